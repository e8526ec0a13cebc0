-- videopipe's PostgreSQL schema, version 1.
--
-- IDs sort with the "C" collation: byte order, as Python sorts them. A path is
-- `text`; when the file name is not valid UTF-8 (PostgreSQL text cannot hold it)
-- `*_raw` keeps the file system's bytes and `text` a readable, escaped copy.

CREATE TABLE videos (
    id                  text COLLATE "C" PRIMARY KEY,
    original_path       text NOT NULL,
    original_path_raw   bytea,
    normalized_path     text,
    normalized_path_raw bytea,
    audio_path          text,
    audio_path_raw      bytea,
    duration_sec        double precision,
    width               integer,
    height              integer,
    has_audio           boolean,
    status              text NOT NULL CHECK (status IN ('pending', 'processing', 'ready', 'failed')),
    error               text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX videos_newest ON videos (created_at DESC, id DESC);

CREATE TABLE stage_runs (
    video_id     text COLLATE "C" NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    stage        text COLLATE "C" NOT NULL,
    status       text NOT NULL,
    attempt      integer NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    duration_sec double precision,
    error        text,
    detail       jsonb NOT NULL,
    PRIMARY KEY (video_id, stage)
);

CREATE TABLE scenes (
    id       text COLLATE "C" PRIMARY KEY,
    video_id text COLLATE "C" NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    idx      integer NOT NULL,
    t_start  double precision NOT NULL,
    t_end    double precision NOT NULL
);
CREATE INDEX scenes_video ON scenes (video_id, idx, id);

CREATE TABLE frames (
    id           text COLLATE "C" PRIMARY KEY,
    video_id     text COLLATE "C" NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    scene_id     text COLLATE "C" NOT NULL,
    idx          integer NOT NULL,
    t            double precision NOT NULL,
    path         text NOT NULL,
    path_raw     bytea,
    phash        text NOT NULL,
    duplicate_of text
);
CREATE INDEX frames_video ON frames (video_id, idx, id);

CREATE TABLE transcript_segments (
    id       text COLLATE "C" PRIMARY KEY,
    video_id text COLLATE "C" NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    idx      integer NOT NULL,
    t_start  double precision NOT NULL,
    t_end    double precision NOT NULL,
    text     text NOT NULL
);
CREATE INDEX transcript_segments_video ON transcript_segments (video_id, idx, id);

CREATE TABLE frame_captions (
    id       text COLLATE "C" PRIMARY KEY,
    video_id text COLLATE "C" NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    frame_id text COLLATE "C" NOT NULL,
    t        double precision NOT NULL,
    caption  text NOT NULL,
    entities jsonb NOT NULL,
    ocr_text text NOT NULL,
    controls jsonb NOT NULL,
    model    text,
    error    text
);
CREATE INDEX frame_captions_video ON frame_captions (video_id, frame_id, id);

-- One vector per (segment or caption, model). `real[]` and an exact search in
-- numpy; `dim` is kept so a query of the wrong size fails clearly.
CREATE TABLE embeddings (
    owner_id  text COLLATE "C" NOT NULL,
    model     text NOT NULL,
    video_id  text COLLATE "C" NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    kind      text NOT NULL CHECK (kind IN ('segment', 'caption')),
    dim       integer NOT NULL,
    vector    real[] NOT NULL,
    text_hash text NOT NULL,
    PRIMARY KEY (owner_id, model)
);
CREATE INDEX embeddings_text ON embeddings (model, text_hash);
CREATE INDEX embeddings_model ON embeddings (model, kind, video_id);

-- Small values stages keep to avoid paying twice (captions by perceptual hash).
CREATE TABLE cache (
    key   text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);

-- Append-only cost accounting; no foreign key, so usage is never lost.
CREATE TABLE usage (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    video_id      text COLLATE "C" NOT NULL,
    stage         text NOT NULL,
    provider      text NOT NULL,
    model         text NOT NULL,
    job_id        text COLLATE "C",
    requests      bigint NOT NULL,
    input_tokens  bigint NOT NULL,
    output_tokens bigint NOT NULL,
    audio_seconds double precision NOT NULL,
    images        bigint NOT NULL,
    texts         bigint NOT NULL,
    cost_usd      double precision NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX usage_video ON usage (video_id);
CREATE INDEX usage_job ON usage (job_id);

CREATE TABLE batches (
    id         text COLLATE "C" PRIMARY KEY,
    total      integer NOT NULL,
    created_at timestamptz NOT NULL,
    cancelled  boolean NOT NULL DEFAULT false
);

CREATE TABLE jobs (
    id               text COLLATE "C" PRIMARY KEY,
    video_id         text COLLATE "C" NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    queue            text NOT NULL,
    priority         integer NOT NULL,
    status           text NOT NULL
                     CHECK (status IN ('pending', 'processing', 'done', 'dead', 'cancelled')),
    attempts         integer NOT NULL,
    max_attempts     integer NOT NULL,
    run_after        timestamptz NOT NULL,
    lease_expires_at timestamptz,
    worker_id        text,
    last_error       text,
    batch_id         text COLLATE "C",
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
-- Claims walk this index in claim order. It is partial: finished jobs (soon the
-- bulk of the table) are not in it, so a claim never walks them.
CREATE INDEX jobs_runnable ON jobs (queue, priority DESC, created_at, id)
    WHERE status IN ('pending', 'processing');
CREATE INDEX jobs_live_video ON jobs (video_id) WHERE status IN ('pending', 'processing');
CREATE INDEX jobs_batch ON jobs (batch_id, created_at, id) WHERE batch_id IS NOT NULL;
