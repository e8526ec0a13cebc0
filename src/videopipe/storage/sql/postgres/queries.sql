-- The queries of `PostgresStore`. Parameters are named (`%(name)s`). Times come
-- from the database's clock (`now()`), the one clock every worker shares.

-- name: schema_lock --
-- Taken before reading or changing the schema version: concurrent first uses
-- queue here, and only the first one migrates.
SELECT pg_advisory_xact_lock(8226307614236157555)

-- name: schema_version_table --
CREATE TABLE IF NOT EXISTS schema_version (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)

-- name: schema_version --
SELECT coalesce(max(version), 0) AS version FROM schema_version

-- name: record_migration --
INSERT INTO schema_version (version, name) VALUES (%(version)s, %(name)s)

-- name: pgvector_available --
SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') AS available

-- name: pgvector_schema --
-- The schema pgvector is installed in, in this database; no row when it is not.
SELECT n.nspname AS schema, e.extversion AS version
FROM pg_extension AS e JOIN pg_namespace AS n ON n.oid = e.extnamespace
WHERE e.extname = 'vector'

-- name: create_pgvector --
CREATE EXTENSION IF NOT EXISTS vector

-- name: has_vec_column --
SELECT EXISTS (
    SELECT 1 FROM pg_attribute
    WHERE attrelid = to_regclass('embeddings') AND attname = 'vec' AND NOT attisdropped
) AS present

-- name: add_vec_column --
-- Composed with psycopg.sql: the placeholder is pgvector's type, qualified by the
-- schema the extension lives in. A generated column: the server fills it on every
-- write, whichever videopipe writes, and adding it fills it for the rows already
-- there. Only vectors an HNSW index can hold (1 to 2,000 dimensions) get one.
ALTER TABLE embeddings ADD COLUMN IF NOT EXISTS vec {vector}
    GENERATED ALWAYS AS (
        CASE WHEN cardinality(vector) BETWEEN 1 AND 2000 THEN vector::{vector} END
    ) STORED

-- name: has_index --
SELECT EXISTS (
    SELECT 1 FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid
    WHERE i.indrelid = to_regclass('embeddings') AND c.relname = %(name)s
) AS present

-- name: index_lock --
-- Two stores creating the same index at once would collide on its name.
SELECT pg_advisory_xact_lock(hashtext(%(name)s))

-- name: create_hnsw_index --
-- Composed with psycopg.sql: one partial index per model and dimension, since one
-- column holds every model's vectors and an HNSW index needs a fixed dimension.
-- The model and dimension are literals, which searches repeat so the planner
-- can match the index's predicate.
CREATE INDEX IF NOT EXISTS {name} ON embeddings
USING hnsw ((vec::{vector}({dim})) {opclass})
WHERE model = {model} AND dim = {dim}

-- name: model_dims --
-- The dimensions a model's vectors have, and how many vectors it has up to `cap`.
SELECT (SELECT min(dim) FROM embeddings WHERE model = %(model)s) AS min_dim,
       (SELECT max(dim) FROM embeddings WHERE model = %(model)s) AS max_dim,
       (SELECT count(*) FROM (
           SELECT 1 FROM embeddings WHERE model = %(model)s LIMIT %(cap)s) AS s) AS n

-- name: ann_settings --
-- For the rest of the transaction. hnsw.ef_search bounds how many neighbours one
-- index scan can return. Without sorting, the planner orders by the HNSW index
-- even when its statistics are stale (a model whose vectors just arrived looks
-- like one row, and sorting one row looks cheaper than the index).
SELECT set_config('hnsw.ef_search', %(ef)s, true), set_config('enable_sort', 'off', true)

-- name: ann_nearest --
-- Composed with psycopg.sql, like create_hnsw_index, so that index serves it.
SELECT owner_id FROM embeddings
WHERE model = {model} AND dim = {dim}
ORDER BY vec::{vector}({dim}) OPERATOR({schema}.<=>) %(query)b::{vector}({dim})
LIMIT %(fetch)s

-- name: notify_jobs --
SELECT pg_notify('videopipe_jobs', %(queue)s)

-- name: listen_jobs --
LISTEN videopipe_jobs

-- name: upsert_video --
-- An existing video keeps its `created_at`.
INSERT INTO videos (
    id, original_path, original_path_raw, title, normalized_path, normalized_path_raw,
    audio_path, audio_path_raw, duration_sec, width, height, has_audio, status, error,
    created_at, updated_at
) VALUES (
    %(id)s, %(original_path)s, %(original_path_raw)s, %(title)s, %(normalized_path)s,
    %(normalized_path_raw)s, %(audio_path)s, %(audio_path_raw)s, %(duration_sec)s,
    %(width)s, %(height)s, %(has_audio)s, %(status)s, %(error)s, %(created_at)s,
    %(updated_at)s
)
ON CONFLICT (id) DO UPDATE SET
    original_path = excluded.original_path,
    original_path_raw = excluded.original_path_raw,
    title = excluded.title,
    normalized_path = excluded.normalized_path,
    normalized_path_raw = excluded.normalized_path_raw,
    audio_path = excluded.audio_path,
    audio_path_raw = excluded.audio_path_raw,
    duration_sec = excluded.duration_sec,
    width = excluded.width,
    height = excluded.height,
    has_audio = excluded.has_audio,
    status = excluded.status,
    error = excluded.error,
    updated_at = now()
RETURNING *

-- name: get_video --
SELECT * FROM videos WHERE id = %(id)s

-- name: video_exists --
SELECT 1 AS found FROM videos WHERE id = %(id)s

-- name: missing_videos --
-- The first of these IDs that names no video.
SELECT u.id FROM unnest(%(ids)s::text[]) AS u (id)
WHERE NOT EXISTS (SELECT 1 FROM videos AS v WHERE v.id = u.id)
LIMIT 1

-- name: list_videos --
SELECT * FROM videos
WHERE %(status)s::text IS NULL OR status = %(status)s::text
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s

-- name: videos_by_path --
SELECT * FROM videos
WHERE original_path = %(path)s AND original_path_raw IS NOT DISTINCT FROM %(raw)s::bytea
ORDER BY created_at DESC, id DESC

-- name: count_videos --
SELECT status, count(*) AS n FROM videos GROUP BY status

-- name: set_video_status --
UPDATE videos SET status = %(status)s, error = %(error)s, updated_at = now()
WHERE id = %(id)s
RETURNING id

-- name: upsert_stage_run --
INSERT INTO stage_runs (
    video_id, stage, status, attempt, started_at, finished_at, duration_sec, error, detail
) VALUES (
    %(video_id)s, %(stage)s, %(status)s, %(attempt)s, %(started_at)s, %(finished_at)s,
    %(duration_sec)s, %(error)s, %(detail)s
)
ON CONFLICT (video_id, stage) DO UPDATE SET
    status = excluded.status,
    attempt = excluded.attempt,
    started_at = excluded.started_at,
    finished_at = excluded.finished_at,
    duration_sec = excluded.duration_sec,
    error = excluded.error,
    detail = excluded.detail

-- name: get_stage_runs --
SELECT * FROM stage_runs WHERE video_id = %(video_id)s ORDER BY stage

-- name: delete_scenes --
DELETE FROM scenes WHERE video_id = %(video_id)s

-- name: upsert_scene --
INSERT INTO scenes (
    id, video_id, idx, t_start, t_end, transition_in, transition_out, content_start, content_end
)
VALUES (
    %(id)s, %(video_id)s, %(idx)s, %(t_start)s, %(t_end)s, %(transition_in)s, %(transition_out)s,
    %(content_start)s, %(content_end)s
)
ON CONFLICT (id) DO UPDATE SET
    video_id = excluded.video_id, idx = excluded.idx,
    t_start = excluded.t_start, t_end = excluded.t_end,
    transition_in = excluded.transition_in, transition_out = excluded.transition_out,
    content_start = excluded.content_start, content_end = excluded.content_end

-- name: list_scenes --
SELECT id, video_id, idx, t_start, t_end, transition_in, transition_out, content_start, content_end
FROM scenes
WHERE video_id = %(video_id)s ORDER BY idx, id

-- name: delete_frames --
DELETE FROM frames WHERE video_id = %(video_id)s

-- name: upsert_frame --
INSERT INTO frames (id, video_id, scene_id, idx, t, path, path_raw, phash, duplicate_of)
VALUES (
    %(id)s, %(video_id)s, %(scene_id)s, %(idx)s, %(t)s, %(path)s, %(path_raw)s, %(phash)s,
    %(duplicate_of)s
)
ON CONFLICT (id) DO UPDATE SET
    video_id = excluded.video_id, scene_id = excluded.scene_id, idx = excluded.idx,
    t = excluded.t, path = excluded.path, path_raw = excluded.path_raw,
    phash = excluded.phash, duplicate_of = excluded.duplicate_of

-- name: list_frames --
SELECT * FROM frames WHERE video_id = %(video_id)s ORDER BY idx, id

-- name: delete_segments --
DELETE FROM transcript_segments WHERE video_id = %(video_id)s

-- name: upsert_segment --
INSERT INTO transcript_segments (id, video_id, idx, t_start, t_end, text)
VALUES (%(id)s, %(video_id)s, %(idx)s, %(t_start)s, %(t_end)s, %(text)s)
ON CONFLICT (id) DO UPDATE SET
    video_id = excluded.video_id, idx = excluded.idx, t_start = excluded.t_start,
    t_end = excluded.t_end, text = excluded.text

-- name: list_segments --
SELECT id, video_id, idx, t_start, t_end, text FROM transcript_segments
WHERE video_id = %(video_id)s ORDER BY idx, id

-- name: delete_captions --
DELETE FROM frame_captions WHERE video_id = %(video_id)s

-- name: upsert_caption --
INSERT INTO frame_captions (
    id, video_id, frame_id, t, caption, entities, ocr_text, controls, model, error
) VALUES (
    %(id)s, %(video_id)s, %(frame_id)s, %(t)s, %(caption)s, %(entities)s, %(ocr_text)s,
    %(controls)s, %(model)s, %(error)s
)
ON CONFLICT (id) DO UPDATE SET
    video_id = excluded.video_id, frame_id = excluded.frame_id, t = excluded.t,
    caption = excluded.caption, entities = excluded.entities, ocr_text = excluded.ocr_text,
    controls = excluded.controls, model = excluded.model, error = excluded.error

-- name: list_captions --
SELECT id, video_id, frame_id, t, caption, entities, ocr_text, controls, model, error
FROM frame_captions WHERE video_id = %(video_id)s ORDER BY frame_id, id

-- name: upsert_embedding --
-- The vector travels as binary real[] (%(vector)b): see `_adapt_vectors`.
INSERT INTO embeddings (owner_id, model, video_id, kind, dim, vector, text_hash, list_id)
VALUES (%(owner_id)s, %(model)s, %(video_id)s, %(kind)s, %(dim)s, %(vector)b, %(text_hash)s,
        %(list_id)s)
ON CONFLICT (owner_id, model) DO UPDATE SET
    video_id = excluded.video_id, kind = excluded.kind, dim = excluded.dim,
    vector = excluded.vector, text_hash = excluded.text_hash, list_id = excluded.list_id

-- name: find_embeddings --
SELECT text_hash, vector FROM embeddings
WHERE model = %(model)s AND text_hash = ANY (%(hashes)s::text[])

-- name: delete_search_docs --
DELETE FROM search_docs WHERE video_id = %(video_id)s AND kind = %(kind)s

-- name: upsert_search_doc --
INSERT INTO search_docs (owner_id, video_id, kind, tsv)
VALUES (%(owner_id)s, %(video_id)s, %(kind)s, %(tsv)s::tsvector)
ON CONFLICT (owner_id) DO UPDATE SET
    video_id = excluded.video_id, kind = excluded.kind, tsv = excluded.tsv

-- name: search_backfill_pending --
SELECT count(*) AS n FROM search_backfill

-- name: search_backfill_lock --
LOCK TABLE search_backfill IN EXCLUSIVE MODE

-- name: search_backfill_rows --
-- The segments and captions stored before version 6, in pages (after %(after)s by ID).
SELECT id, video_id, 'segment' AS kind, text FROM transcript_segments
WHERE id > %(after)s
UNION ALL
SELECT id, video_id, 'caption' AS kind, caption || ' ' || ocr_text AS text FROM frame_captions
WHERE id > %(after)s
ORDER BY id LIMIT %(page)s

-- name: search_backfill_done --
DELETE FROM search_backfill

-- name: vector_scan --
-- Every vector of one model (optionally of some kinds), streamed by a server-side
-- cursor: the nearest are kept as they go by, never all at once.
SELECT owner_id, vector FROM embeddings
WHERE model = %(model)s AND (%(kinds)s::text[] IS NULL OR kind = ANY (%(kinds)s::text[]))

-- name: vector_scan_videos --
-- The same for a few videos, through the (video_id, model, owner_id) index.
SELECT owner_id, vector FROM embeddings
WHERE video_id = ANY (%(video_ids)s::text[]) AND model = %(model)s
  AND (%(kinds)s::text[] IS NULL OR kind = ANY (%(kinds)s::text[]))

-- name: ivf_index --
-- A model's IVF index: its dimension, growth, and its first list (new at each training).
SELECT i.dim, i.trained_rows, i.saved_since,
       (SELECT min(list_id) FROM vector_lists WHERE model = %(model)s) AS first_list
FROM vector_index AS i WHERE i.model = %(model)s

-- name: ivf_lock --
-- One store trains a model's lists at a time; the others wait, then see them.
SELECT pg_advisory_xact_lock(hashtext('videopipe vector lists ' || %(model)s))

-- name: ivf_lock_shared --
SELECT pg_advisory_xact_lock_shared(hashtext('videopipe vector lists ' || %(model)s))

-- name: ivf_lists --
SELECT list_id, centroid FROM vector_lists WHERE model = %(model)s ORDER BY list_id

-- name: ivf_count --
-- How many vectors of one model and dimension there are, up to %(cap)s (NULL: all).
SELECT count(*) AS n FROM (
    SELECT 1 FROM embeddings WHERE model = %(model)s AND dim = %(dim)s LIMIT %(cap)s) AS s

-- name: ivf_rows --
-- A model's vectors of one dimension, streamed by a server-side cursor.
SELECT owner_id, vector FROM embeddings WHERE model = %(model)s AND dim = %(dim)s

-- name: ivf_clear_lists --
DELETE FROM vector_lists WHERE model = %(model)s

-- name: ivf_next_list --
SELECT coalesce(max(list_id), 0) + 1 AS next FROM vector_lists

-- name: ivf_add_list --
INSERT INTO vector_lists (list_id, model, centroid) VALUES (%(list_id)s, %(model)s, %(centroid)b)

-- name: ivf_assign --
-- Each owner's list, in one statement per page.
UPDATE embeddings AS e SET list_id = a.list_id
FROM unnest(%(owners)s::text[], %(lists)s::bigint[]) AS a (owner_id, list_id)
WHERE e.model = %(model)s AND e.owner_id = a.owner_id

-- name: ivf_analyze --
-- The lists were just filled: the planner learns how many rows each holds.
ANALYZE embeddings

-- name: ivf_save_index --
INSERT INTO vector_index (model, dim, trained_rows, saved_since)
VALUES (%(model)s, %(dim)s, %(trained_rows)s, 0)
ON CONFLICT (model) DO UPDATE SET
    dim = excluded.dim, trained_rows = excluded.trained_rows, saved_since = 0

-- name: ivf_saved --
UPDATE vector_index SET saved_since = %(saved_since)s WHERE model = %(model)s

-- name: ivf_scan --
-- The vectors of some lists, and with %(unlisted)s those of no list (saved while
-- pgvector answered), optionally of some kinds: the owners, and the vectors packed
-- in one binary string (array_send of each real[]; both aggregates read the rows
-- in one order). A list holds vectors of one model and dimension only, so
-- embeddings_list is the one index that fits, however stale the statistics.
SELECT array_agg(owner_id) AS owners, string_agg(array_send(vector), ''::bytea) AS vectors
FROM (
    SELECT owner_id, vector FROM embeddings
    WHERE list_id = ANY (%(lists)s::bigint[])
      AND (%(kinds)s::text[] IS NULL OR kind = ANY (%(kinds)s::text[]))
    UNION ALL
    SELECT owner_id, vector FROM embeddings
    WHERE %(unlisted)s AND list_id IS NULL AND model = %(model)s AND dim = %(dim)s
      AND (%(kinds)s::text[] IS NULL OR kind = ANY (%(kinds)s::text[]))
) AS e

-- name: term_counts --
-- How many documents hold each term, counted up to %(cap)s (a GIN probe per term).
SELECT t.term, (
    SELECT count(*) FROM (
        SELECT 1 FROM search_docs AS d WHERE d.tsv @@ t.query::tsquery LIMIT %(cap)s) AS s
) AS doc
FROM unnest(%(terms)s::text[], %(queries)s::text[]) AS t (term, query)

-- name: search_docs_estimate --
SELECT greatest(reltuples, 0)::bigint AS n FROM pg_class WHERE oid = 'search_docs'::regclass

-- name: text_candidates --
-- The best full-text matches that have a vector of the model (ts_rank_cd: cover density).
SELECT d.owner_id FROM search_docs AS d
WHERE d.tsv @@ %(match)s::tsquery
  AND (%(kinds)s::text[] IS NULL OR d.kind = ANY (%(kinds)s::text[]))
  AND (%(video_ids)s::text[] IS NULL OR d.video_id = ANY (%(video_ids)s::text[]))
  AND EXISTS (
      SELECT 1 FROM embeddings AS e WHERE e.owner_id = d.owner_id AND e.model = %(model)s)
ORDER BY ts_rank_cd(d.tsv, %(match)s::tsquery) DESC, d.owner_id
LIMIT %(n)s

-- name: alive_owners --
-- How many of these owners' segments or captions still exist.
SELECT (SELECT count(*) FROM transcript_segments WHERE id = ANY (%(ids)s::text[]))
     + (SELECT count(*) FROM frame_captions WHERE id = ANY (%(ids)s::text[])) AS n

-- name: candidates_by_owner --
SELECT owner_id, kind, vector FROM embeddings
WHERE model = %(model)s AND owner_id = ANY (%(ids)s::text[])

-- name: segment_hits --
SELECT s.id, s.video_id, s.text, s.t_start, s.t_end,
       v.original_path, v.original_path_raw, v.title
FROM transcript_segments AS s JOIN videos AS v ON v.id = s.video_id
WHERE s.id = ANY (%(ids)s::text[])

-- name: caption_hits --
-- A caption's hit spans its frame's scene, and shows the frame.
SELECT c.id, c.video_id, c.caption, c.ocr_text, c.t,
       v.original_path, v.original_path_raw, v.title,
       f.path AS frame_path, f.path_raw AS frame_path_raw,
       s.t_start AS scene_start, s.t_end AS scene_end
FROM frame_captions AS c
JOIN videos AS v ON v.id = c.video_id
LEFT JOIN frames AS f ON f.id = c.frame_id AND f.video_id = c.video_id
LEFT JOIN scenes AS s ON s.id = f.scene_id AND s.video_id = f.video_id
WHERE c.id = ANY (%(ids)s::text[])

-- name: get_cached --
SELECT key, value FROM cache WHERE key = ANY (%(keys)s::text[])

-- name: put_cached --
INSERT INTO cache (key, value) VALUES (%(key)s, %(value)s)
ON CONFLICT (key) DO UPDATE SET value = excluded.value

-- name: insert_usage --
-- A retried write (lost connection after COMMIT) conflicts on its request id: no double count.
INSERT INTO usage (
    video_id, stage, provider, model, job_id, requests, input_tokens, output_tokens,
    audio_seconds, images, texts, cost_usd, created_at, request_id
) VALUES (
    %(video_id)s, %(stage)s, %(provider)s, %(model)s, %(job_id)s, %(requests)s,
    %(input_tokens)s, %(output_tokens)s, %(audio_seconds)s, %(images)s, %(texts)s,
    %(cost_usd)s, %(created_at)s, %(request_id)s
)
ON CONFLICT (request_id) DO NOTHING

-- name: usage_summary --
SELECT coalesce(sum(requests), 0)::bigint AS requests,
       coalesce(sum(input_tokens), 0)::bigint AS input_tokens,
       coalesce(sum(output_tokens), 0)::bigint AS output_tokens,
       coalesce(sum(audio_seconds), 0)::float8 AS audio_seconds,
       coalesce(sum(images), 0)::bigint AS images,
       coalesce(sum(texts), 0)::bigint AS texts,
       coalesce(sum(cost_usd), 0)::float8 AS cost_usd
FROM usage
WHERE (%(video_id)s::text IS NULL OR video_id = %(video_id)s::text)
  AND (%(job_id)s::text IS NULL OR job_id = %(job_id)s::text)
  AND (%(batch_id)s::text IS NULL
       OR video_id IN (SELECT video_id FROM jobs WHERE batch_id = %(batch_id)s::text))

-- name: video_live_job --
-- No row: no such video. Else the video's oldest live job, which a unique
-- enqueue hands back, or a row of NULLs when it has none.
SELECT j.*
FROM videos AS v
LEFT JOIN LATERAL (
    SELECT * FROM jobs
    WHERE jobs.video_id = v.id AND jobs.status IN ('pending', 'processing')
    ORDER BY jobs.created_at, jobs.id
    LIMIT 1
) AS j ON true
WHERE v.id = %(video_id)s

-- name: insert_job --
-- A unique job conflicts with a live unique job of its video (index
-- jobs_one_live_per_video): then nothing is inserted, and the caller looks again.
-- The notification goes out when the insert commits.
WITH inserted AS (
    INSERT INTO jobs (
        id, video_id, queue, priority, status, attempts, max_attempts, run_after,
        batch_id, created_at, updated_at, dedupe
    ) VALUES (
        %(id)s, %(video_id)s, %(queue)s, %(priority)s, 'pending', 0, %(max_attempts)s, now(),
        %(batch_id)s, now(), now(), %(dedupe)s
    )
    ON CONFLICT (video_id) WHERE dedupe AND status IN ('pending', 'processing') DO NOTHING
    RETURNING *
), notified AS (
    SELECT pg_notify('videopipe_jobs', queue) FROM inserted
)
SELECT inserted.* FROM inserted, (SELECT count(*) FROM notified) AS n

-- name: insert_batch_jobs --
-- One microsecond apart, so a batch runs in the order it was given.
INSERT INTO jobs (
    id, video_id, queue, priority, status, attempts, max_attempts, run_after,
    batch_id, created_at, updated_at, dedupe
)
SELECT j.id, j.video_id, %(queue)s, %(priority)s, 'pending', 0, %(max_attempts)s, now(),
       %(batch_id)s, now() + (j.n - 1) * interval '1 microsecond', now(), false
FROM unnest(%(ids)s::text[], %(video_ids)s::text[]) WITH ORDINALITY AS j (id, video_id, n)

-- name: claim_queue --
-- One round trip. The CTE walks the partial index jobs_runnable in claim order
-- and locks what it takes; rows another claimer holds are skipped, not waited
-- for. MATERIALIZED: evaluated once, so exactly these rows are updated.
WITH reaped AS (
    -- A job whose last attempt's worker died has no attempt left: dead-letter it
    -- instead of re-claiming it forever.
    UPDATE jobs SET status = 'dead', lease_expires_at = NULL, updated_at = now(),
        last_error = COALESCE(last_error || ' / ', '') || 'the worker running the last attempt stopped without finishing it (its lease expired)'
    WHERE id IN (
        SELECT id FROM jobs
        WHERE queue = %(queue)s AND status = 'processing' AND lease_expires_at <= now()
          AND attempts >= max_attempts
        FOR UPDATE SKIP LOCKED
    )
), picked AS MATERIALIZED (
    SELECT id FROM jobs
    WHERE queue = %(queue)s
      AND status IN ('pending', 'processing')
      AND ((status = 'pending' AND run_after <= now())
           OR (status = 'processing' AND lease_expires_at <= now() AND attempts < max_attempts))
    ORDER BY priority DESC, created_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs AS j
SET status = 'processing', attempts = j.attempts + 1, worker_id = %(worker_id)s,
    lease_expires_at = now() + %(lease)s * interval '1 second', updated_at = now()
FROM picked
WHERE j.id = picked.id
RETURNING j.*

-- name: claim_queues --
WITH reaped AS (
    -- A job whose last attempt's worker died has no attempt left: dead-letter it
    -- instead of re-claiming it forever.
    UPDATE jobs SET status = 'dead', lease_expires_at = NULL, updated_at = now(),
        last_error = COALESCE(last_error || ' / ', '') || 'the worker running the last attempt stopped without finishing it (its lease expired)'
    WHERE id IN (
        SELECT id FROM jobs
        WHERE queue = ANY (%(queues)s::text[]) AND status = 'processing' AND lease_expires_at <= now()
          AND attempts >= max_attempts
        FOR UPDATE SKIP LOCKED
    )
), picked AS MATERIALIZED (
    SELECT id FROM jobs
    WHERE queue = ANY (%(queues)s::text[])
      AND status IN ('pending', 'processing')
      AND ((status = 'pending' AND run_after <= now())
           OR (status = 'processing' AND lease_expires_at <= now() AND attempts < max_attempts))
    ORDER BY priority DESC, created_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs AS j
SET status = 'processing', attempts = j.attempts + 1, worker_id = %(worker_id)s,
    lease_expires_at = now() + %(lease)s * interval '1 second', updated_at = now()
FROM picked
WHERE j.id = picked.id
RETURNING j.*

-- name: heartbeat --
UPDATE jobs
SET lease_expires_at = now() + %(lease)s * interval '1 second', updated_at = now()
WHERE id = %(id)s AND worker_id = %(worker_id)s AND status = 'processing'
RETURNING id

-- name: complete --
UPDATE jobs SET status = 'done', lease_expires_at = NULL, last_error = NULL, updated_at = now()
WHERE id = %(id)s AND worker_id = %(worker_id)s AND status = 'processing'
RETURNING id

-- name: complete_many --
-- Several completions in one statement and one commit (see `Coalescer`).
UPDATE jobs AS j
SET status = 'done', lease_expires_at = NULL, last_error = NULL, updated_at = now()
FROM unnest(%(ids)s::text[], %(worker_ids)s::text[]) AS c (id, worker_id)
WHERE j.id = c.id AND j.worker_id = c.worker_id AND j.status = 'processing'
RETURNING j.id, j.worker_id

-- name: fail --
-- With attempts left: back to pending after `retry_in` (waking idle workers when
-- that is now); else dead, keeping the error. The worker's own cap (`max_attempts`,
-- NULL for none) counts when it is lower than the job's.
WITH failed AS (
    UPDATE jobs
    SET status = CASE WHEN attempts >= LEAST(max_attempts, COALESCE(%(cap)s::int, max_attempts))
                      THEN 'dead' ELSE 'pending' END,
        run_after = CASE WHEN attempts >= LEAST(max_attempts, COALESCE(%(cap)s::int, max_attempts))
                         THEN now()
                         ELSE now() + %(retry_in)s * interval '1 second' END,
        lease_expires_at = NULL, last_error = %(error)s, updated_at = now()
    WHERE id = %(id)s AND worker_id = %(worker_id)s AND status = 'processing'
    RETURNING *
), notified AS (
    SELECT pg_notify('videopipe_jobs', queue) FROM failed
    WHERE status = 'pending' AND %(notify)s
)
SELECT failed.* FROM failed, (SELECT count(*) FROM notified) AS n

-- name: release --
-- A graceful stop: the attempt did not happen, and another worker may take it now.
WITH released AS (
    UPDATE jobs
    SET status = 'pending', attempts = greatest(0, attempts - 1), run_after = now(),
        lease_expires_at = NULL, worker_id = NULL, updated_at = now()
    WHERE id = %(id)s AND worker_id = %(worker_id)s AND status = 'processing'
    RETURNING id, queue
), notified AS (
    SELECT pg_notify('videopipe_jobs', queue) FROM released
)
SELECT released.id FROM released, (SELECT count(*) FROM notified) AS n

-- name: replay_one --
-- A replayed job never holds its video's unique slot: another live job may have
-- taken it meanwhile, and replaying is an explicit request to run this one.
WITH replayed AS (
    UPDATE jobs
    SET status = 'pending', attempts = 0, run_after = now(), worker_id = NULL,
        updated_at = now(), dedupe = false
    WHERE id = %(id)s AND status = 'dead'
    RETURNING queue
), notified AS (
    SELECT pg_notify('videopipe_jobs', queue) FROM replayed
)
SELECT (SELECT count(*) FROM replayed) AS count, (SELECT count(*) FROM notified) AS n

-- name: replay_all --
WITH replayed AS (
    UPDATE jobs
    SET status = 'pending', attempts = 0, run_after = now(), worker_id = NULL,
        updated_at = now(), dedupe = false
    WHERE status = 'dead'
    RETURNING queue
), notified AS (
    SELECT pg_notify('videopipe_jobs', queue) FROM (SELECT DISTINCT queue FROM replayed) AS q
)
SELECT (SELECT count(*) FROM replayed) AS count, (SELECT count(*) FROM notified) AS n

-- name: cancel --
UPDATE jobs SET status = 'cancelled', updated_at = now()
WHERE id = %(id)s AND status = 'pending'
RETURNING id

-- name: get_job --
SELECT * FROM jobs WHERE id = %(id)s

-- name: peek --
SELECT * FROM jobs WHERE status = %(status)s
ORDER BY priority DESC, created_at, id
LIMIT %(n)s

-- name: stats --
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'processing') AS processing,
       count(*) FILTER (WHERE status = 'done') AS done,
       count(*) FILTER (WHERE status = 'dead') AS dead,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       min(created_at) FILTER (WHERE status = 'pending' AND run_after <= now()) AS oldest,
       count(*) FILTER (WHERE last_error IS NOT NULL) AS failed,
       now() AS now
FROM jobs

-- name: batch_exists --
SELECT 1 FROM batches WHERE id = %(id)s

-- name: insert_batch --
INSERT INTO batches (id, total, created_at) VALUES (%(id)s, %(total)s, now())

-- name: batch_status --
SELECT b.id, b.total, b.created_at, b.cancelled,
       count(j.id) FILTER (WHERE j.status = 'pending') AS pending,
       count(j.id) FILTER (WHERE j.status = 'processing') AS processing,
       count(j.id) FILTER (WHERE j.status = 'done') AS done,
       count(j.id) FILTER (WHERE j.status = 'dead') AS dead,
       count(j.id) FILTER (WHERE j.status = 'cancelled') AS cancelled_jobs,
       max(j.updated_at) AS last_update
FROM batches AS b
LEFT JOIN jobs AS j ON j.batch_id = b.id
WHERE b.id = %(id)s
GROUP BY b.id

-- name: batch_items --
SELECT j.id AS job_id, j.video_id, v.original_path, v.original_path_raw, j.status,
       j.attempts, j.last_error AS error
FROM jobs AS j
LEFT JOIN videos AS v ON v.id = j.video_id
WHERE j.batch_id = %(id)s
ORDER BY j.created_at, j.id

-- name: cancel_batch --
UPDATE batches SET cancelled = true WHERE id = %(id)s RETURNING id

-- name: cancel_batch_jobs --
UPDATE jobs SET status = 'cancelled', updated_at = now()
WHERE batch_id = %(id)s AND status = 'pending'

-- name: take_tokens --
-- One atomic statement: the row is locked by the upsert, refilled for the time
-- since it was last touched (on the database's clock unless :now is given),
-- and :amount taken (negative: given back), never above :capacity. A new
-- bucket starts full. Measured against an advisory lock around a read and a
-- write (benchmarks/bench_buckets.py): see docs/performance.md.
WITH clock AS (
    SELECT coalesce(%(now)s::float8, extract(epoch FROM clock_timestamp())::float8) AS t
)
INSERT INTO rate_buckets AS b (key, level, updated)
SELECT %(key)s, least(%(capacity)s::float8, %(capacity)s::float8 - %(amount)s::float8), t
FROM clock
ON CONFLICT (key) DO UPDATE SET
    level = least(
        %(capacity)s::float8,
        least(
            %(capacity)s::float8,
            b.level + greatest(0.0, excluded.updated - b.updated) * %(rate)s::float8
        ) - %(amount)s::float8
    ),
    updated = greatest(b.updated, excluded.updated)
RETURNING level

-- name: take_lease --
-- One atomic statement: the lease becomes %(owner)s's when it is free, lapsed
-- (on the database's clock unless :now is given), or already theirs; a row
-- comes back exactly then.
WITH clock AS (
    SELECT coalesce(%(now)s::float8, extract(epoch FROM clock_timestamp())::float8) AS t
)
INSERT INTO run_leases AS l (key, owner, expires)
SELECT %(key)s, %(owner)s, t + %(ttl)s::float8
FROM clock
ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires = excluded.expires
WHERE l.owner = excluded.owner OR l.expires <= excluded.expires - %(ttl)s::float8
RETURNING owner

-- name: drop_lease --
DELETE FROM run_leases WHERE key = %(key)s AND owner = %(owner)s
RETURNING key
