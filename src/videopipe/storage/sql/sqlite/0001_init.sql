-- videopipe's SQLite schema, version 1.
--
-- Timestamps are integer microseconds since the Unix epoch, UTC: exact, and
-- compared without parsing. Paths are TEXT, or a BLOB of the file system's bytes
-- when the name is not valid UTF-8. Booleans are 0/1. JSON is TEXT.

CREATE TABLE videos (
    id              TEXT PRIMARY KEY,
    original_path   TEXT NOT NULL,
    normalized_path TEXT,
    audio_path      TEXT,
    duration_sec    REAL,
    width           INTEGER,
    height          INTEGER,
    has_audio       INTEGER,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'ready', 'failed')),
    error           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX videos_newest ON videos (created_at DESC, id DESC);

CREATE TABLE stage_runs (
    video_id     TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    stage        TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    duration_sec REAL,
    error        TEXT,
    detail       TEXT NOT NULL,
    PRIMARY KEY (video_id, stage)
);

CREATE TABLE scenes (
    id       TEXT PRIMARY KEY,
    video_id TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    t_start  REAL NOT NULL,
    t_end    REAL NOT NULL
);
CREATE INDEX scenes_video ON scenes (video_id, idx);

CREATE TABLE frames (
    id           TEXT PRIMARY KEY,
    video_id     TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    scene_id     TEXT NOT NULL,
    idx          INTEGER NOT NULL,
    t            REAL NOT NULL,
    path         TEXT NOT NULL,
    phash        TEXT NOT NULL,
    duplicate_of TEXT
);
CREATE INDEX frames_video ON frames (video_id, idx);

CREATE TABLE transcript_segments (
    id       TEXT PRIMARY KEY,
    video_id TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    t_start  REAL NOT NULL,
    t_end    REAL NOT NULL,
    text     TEXT NOT NULL
);
CREATE INDEX transcript_segments_video ON transcript_segments (video_id, idx);

CREATE TABLE frame_captions (
    id       TEXT PRIMARY KEY,
    video_id TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    frame_id TEXT NOT NULL,
    t        REAL NOT NULL,
    caption  TEXT NOT NULL,
    entities TEXT NOT NULL,
    ocr_text TEXT NOT NULL,
    controls TEXT NOT NULL,
    model    TEXT,
    error    TEXT
);
CREATE INDEX frame_captions_video ON frame_captions (video_id, frame_id);

-- One vector per (segment or caption, model): little-endian float32.
CREATE TABLE embeddings (
    owner_id  TEXT NOT NULL,
    model     TEXT NOT NULL,
    video_id  TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    kind      TEXT NOT NULL CHECK (kind IN ('segment', 'caption')),
    dim       INTEGER NOT NULL,
    vector    BLOB NOT NULL,
    text_hash TEXT NOT NULL,
    PRIMARY KEY (owner_id, model)
);
CREATE INDEX embeddings_text ON embeddings (model, text_hash);
CREATE INDEX embeddings_model ON embeddings (model, kind, video_id);

-- Small values stages keep to avoid paying twice (captions by perceptual hash).
CREATE TABLE cache (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Append-only cost accounting; no foreign key, so usage is never lost.
CREATE TABLE usage (
    id            INTEGER PRIMARY KEY,
    video_id      TEXT NOT NULL,
    stage         TEXT NOT NULL,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    job_id        TEXT,
    requests      INTEGER NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    audio_seconds REAL NOT NULL,
    images        INTEGER NOT NULL,
    texts         INTEGER NOT NULL,
    cost_usd      REAL NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX usage_video ON usage (video_id);
CREATE INDEX usage_job ON usage (job_id);

CREATE TABLE batches (
    id         TEXT PRIMARY KEY,
    total      INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    cancelled  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    video_id         TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    queue            TEXT NOT NULL,
    priority         INTEGER NOT NULL,
    status           TEXT NOT NULL
                     CHECK (status IN ('pending', 'processing', 'done', 'dead', 'cancelled')),
    attempts         INTEGER NOT NULL,
    max_attempts     INTEGER NOT NULL,
    run_after        INTEGER NOT NULL,
    lease_expires_at INTEGER,
    worker_id        TEXT,
    last_error       TEXT,
    batch_id         TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
-- Claims walk this index in claim order. It is partial: finished jobs (the
-- bulk of the table, soon) are not in it, so a claim never walks them.
CREATE INDEX jobs_runnable ON jobs (queue, priority DESC, created_at, id)
    WHERE status IN ('pending', 'processing');
CREATE INDEX jobs_live_video ON jobs (video_id) WHERE status IN ('pending', 'processing');
CREATE INDEX jobs_batch ON jobs (batch_id, created_at, id) WHERE batch_id IS NOT NULL;
