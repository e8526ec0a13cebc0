-- The queries of `SQLiteStore`. Parameters are named (`:name`); timestamps are
-- integer microseconds since the epoch, UTC. Every write runs inside
-- `BEGIN IMMEDIATE`, so it holds the database's one write lock from its first
-- read: two processes never claim the same job.

-- name: schema_version_table --
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at INTEGER NOT NULL
)

-- name: schema_version --
SELECT coalesce(max(version), 0) FROM schema_version

-- name: record_migration --
INSERT INTO schema_version (version, name, applied_at) VALUES (:version, :name, :applied_at)

-- name: upsert_video --
-- An existing video keeps its `created_at`.
INSERT INTO videos (
    id, original_path, title, normalized_path, audio_path, duration_sec, width, height,
    has_audio, status, error, created_at, updated_at
) VALUES (
    :id, :original_path, :title, :normalized_path, :audio_path, :duration_sec, :width,
    :height, :has_audio, :status, :error, :created_at, :updated_at
)
ON CONFLICT (id) DO UPDATE SET
    original_path = excluded.original_path,
    title = excluded.title,
    normalized_path = excluded.normalized_path,
    audio_path = excluded.audio_path,
    duration_sec = excluded.duration_sec,
    width = excluded.width,
    height = excluded.height,
    has_audio = excluded.has_audio,
    status = excluded.status,
    error = excluded.error,
    updated_at = :now
RETURNING *

-- name: get_video --
SELECT * FROM videos WHERE id = :id

-- name: video_exists --
SELECT 1 FROM videos WHERE id = :id

-- name: missing_videos --
-- The IDs of a JSON array that name no video.
SELECT value FROM json_each(:ids) WHERE value NOT IN (SELECT id FROM videos) LIMIT 1

-- name: list_videos --
SELECT * FROM videos
WHERE :status IS NULL OR status = :status
ORDER BY created_at DESC, id DESC
LIMIT :limit

-- name: videos_by_path --
SELECT * FROM videos WHERE original_path = :path ORDER BY created_at DESC, id DESC

-- name: count_videos --
SELECT status, count(*) AS n FROM videos GROUP BY status

-- name: set_video_status --
UPDATE videos SET status = :status, error = :error, updated_at = :now WHERE id = :id
RETURNING id

-- name: upsert_stage_run --
INSERT INTO stage_runs (
    video_id, stage, status, attempt, started_at, finished_at, duration_sec, error, detail
) VALUES (
    :video_id, :stage, :status, :attempt, :started_at, :finished_at, :duration_sec, :error,
    :detail
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
SELECT * FROM stage_runs WHERE video_id = :video_id ORDER BY stage

-- name: delete_scenes --
DELETE FROM scenes WHERE video_id = :video_id

-- name: upsert_scene --
INSERT INTO scenes (
    id, video_id, idx, t_start, t_end, transition_in, transition_out, content_start, content_end
)
VALUES (
    :id, :video_id, :idx, :t_start, :t_end, :transition_in, :transition_out, :content_start,
    :content_end
)
ON CONFLICT (id) DO UPDATE SET
    video_id = excluded.video_id, idx = excluded.idx,
    t_start = excluded.t_start, t_end = excluded.t_end,
    transition_in = excluded.transition_in, transition_out = excluded.transition_out,
    content_start = excluded.content_start, content_end = excluded.content_end

-- name: list_scenes --
SELECT * FROM scenes WHERE video_id = :video_id ORDER BY idx, id

-- name: delete_frames --
DELETE FROM frames WHERE video_id = :video_id

-- name: upsert_frame --
INSERT INTO frames (id, video_id, scene_id, idx, t, path, phash, duplicate_of)
VALUES (:id, :video_id, :scene_id, :idx, :t, :path, :phash, :duplicate_of)
ON CONFLICT (id) DO UPDATE SET
    video_id = excluded.video_id, scene_id = excluded.scene_id, idx = excluded.idx,
    t = excluded.t, path = excluded.path, phash = excluded.phash,
    duplicate_of = excluded.duplicate_of

-- name: list_frames --
SELECT * FROM frames WHERE video_id = :video_id ORDER BY idx, id

-- name: delete_segments --
DELETE FROM transcript_segments WHERE video_id = :video_id

-- name: upsert_segment --
INSERT INTO transcript_segments (id, video_id, idx, t_start, t_end, text)
VALUES (:id, :video_id, :idx, :t_start, :t_end, :text)
ON CONFLICT (id) DO UPDATE SET
    video_id = excluded.video_id, idx = excluded.idx, t_start = excluded.t_start,
    t_end = excluded.t_end, text = excluded.text

-- name: list_segments --
SELECT * FROM transcript_segments WHERE video_id = :video_id ORDER BY idx, id

-- name: delete_captions --
DELETE FROM frame_captions WHERE video_id = :video_id

-- name: upsert_caption --
INSERT INTO frame_captions (
    id, video_id, frame_id, t, caption, entities, ocr_text, controls, model, error
) VALUES (
    :id, :video_id, :frame_id, :t, :caption, :entities, :ocr_text, :controls, :model, :error
)
ON CONFLICT (id) DO UPDATE SET
    video_id = excluded.video_id, frame_id = excluded.frame_id, t = excluded.t,
    caption = excluded.caption, entities = excluded.entities, ocr_text = excluded.ocr_text,
    controls = excluded.controls, model = excluded.model, error = excluded.error

-- name: list_captions --
SELECT * FROM frame_captions WHERE video_id = :video_id ORDER BY frame_id, id

-- name: upsert_embedding --
INSERT INTO embeddings (owner_id, model, video_id, kind, dim, vector, text_hash, list_id)
VALUES (:owner_id, :model, :video_id, :kind, :dim, :vector, :text_hash, :list_id)
ON CONFLICT (owner_id, model) DO UPDATE SET
    video_id = excluded.video_id, kind = excluded.kind, dim = excluded.dim,
    vector = excluded.vector, text_hash = excluded.text_hash, list_id = excluded.list_id

-- name: find_embeddings --
SELECT text_hash, vector FROM embeddings
WHERE model = :model AND text_hash IN (SELECT value FROM json_each(:hashes))

-- name: delete_search_docs --
DELETE FROM search_docs WHERE video_id = :video_id AND kind = :kind

-- name: upsert_search_doc --
INSERT INTO search_docs (owner_id, video_id, kind, terms)
VALUES (:owner_id, :video_id, :kind, :terms)
ON CONFLICT (owner_id) DO UPDATE SET
    video_id = excluded.video_id, kind = excluded.kind, terms = excluded.terms
WHERE search_docs.terms IS NOT excluded.terms OR search_docs.video_id IS NOT excluded.video_id

-- name: search_backfill_pending --
SELECT count(*) AS n FROM search_backfill

-- name: search_backfill_rows --
-- The segments and captions stored before version 6, in pages (after :after by ID).
SELECT id, video_id, 'segment' AS kind, text FROM transcript_segments
WHERE id > :after
UNION ALL
SELECT id, video_id, 'caption' AS kind, caption || ' ' || ocr_text AS text FROM frame_captions
WHERE id > :after
ORDER BY id LIMIT :page

-- name: search_backfill_done --
DELETE FROM search_backfill

-- name: model_dims --
-- The dimensions a model's vectors have (two index probes however many vectors).
SELECT (SELECT min(dim) FROM embeddings WHERE model = :model) AS min_dim,
       (SELECT max(dim) FROM embeddings WHERE model = :model) AS max_dim

-- name: vector_scan --
-- Every vector of one model (optionally of some kinds), read in chunks by a cursor:
-- the nearest are kept as they stream by, never all at once.
SELECT e.rowid AS rid, e.vector FROM embeddings AS e
WHERE e.model = :model
  AND (:kinds IS NULL OR e.kind IN (SELECT value FROM json_each(:kinds)))

-- name: vector_scan_videos --
-- The same, for a few videos: through the (video_id, model, kind) index.
SELECT e.rowid AS rid, e.vector FROM json_each(:video_ids) AS v
JOIN embeddings AS e INDEXED BY embeddings_video ON e.video_id = v.value AND e.model = :model
WHERE (:kinds IS NULL OR e.kind IN (SELECT value FROM json_each(:kinds)))

-- name: ivf_index --
-- A model's IVF index: its dimension, growth, and its first list (new at each training).
SELECT i.dim, i.trained_rows, i.saved_since,
       (SELECT min(list_id) FROM vector_lists WHERE model = :model) AS first_list
FROM vector_index AS i WHERE i.model = :model

-- name: ivf_lists --
SELECT list_id, centroid FROM vector_lists WHERE model = :model ORDER BY list_id

-- name: ivf_count --
-- How many vectors of one model and dimension there are, up to :cap (-1: no cap).
SELECT count(*) AS n FROM (
    SELECT 1 FROM embeddings WHERE model = :model AND dim = :dim LIMIT :cap)

-- name: ivf_rows --
-- A model's vectors of one dimension, a page at a time in rowid order.
SELECT rowid AS rid, vector FROM embeddings
WHERE model = :model AND dim = :dim AND rowid > :after ORDER BY rowid LIMIT :page

-- name: ivf_clear_list --
DELETE FROM vector_postings WHERE id >= :lo AND id < :hi

-- name: ivf_clear_lists --
DELETE FROM vector_lists WHERE model = :model

-- name: ivf_next_list --
SELECT coalesce(max(list_id), 0) + 1 AS next FROM vector_lists

-- name: ivf_add_list --
INSERT INTO vector_lists (list_id, model, centroid) VALUES (:list_id, :model, :centroid)

-- name: ivf_assign --
UPDATE embeddings SET list_id = :list_id WHERE rowid = :rid

-- name: ivf_save_index --
INSERT INTO vector_index (model, dim, trained_rows, saved_since)
VALUES (:model, :dim, :trained_rows, 0)
ON CONFLICT (model) DO UPDATE SET
    dim = excluded.dim, trained_rows = excluded.trained_rows, saved_since = 0

-- name: ivf_saved --
UPDATE vector_index SET saved_since = :saved_since WHERE model = :model

-- name: alive_owners --
-- How many of these owners' segments or captions still exist.
SELECT (SELECT count(*) FROM transcript_segments WHERE id IN (SELECT value FROM json_each(:ids)))
     + (SELECT count(*) FROM frame_captions WHERE id IN (SELECT value FROM json_each(:ids))) AS n

-- name: ivf_scan --
-- The vectors of one list (a range of postings' ids), optionally of some kinds.
SELECT owner_id, vector FROM vector_postings
WHERE id >= :lo AND id < :hi
  AND (:kinds IS NULL OR kind IN (SELECT value FROM json_each(:kinds)))

-- name: term_counts --
-- How many documents hold each term, and how many documents there are.
SELECT v.term, v.doc FROM search_vocab AS v WHERE v.term IN (SELECT value FROM json_each(:terms))
UNION ALL
SELECT NULL, (SELECT count(*) FROM search_docs)

-- name: text_candidates --
-- The best full-text matches (BM25) that have a vector of the model.
-- FTS5 ranks inside the subquery (ORDER BY rank LIMIT is its own fast path).
SELECT d.owner_id FROM (
    SELECT rowid, rank FROM search_fts WHERE search_fts MATCH :match
    ORDER BY rank LIMIT 4 * :n) AS f
JOIN search_docs AS d ON d.id = f.rowid
WHERE (:kinds IS NULL OR d.kind IN (SELECT value FROM json_each(:kinds)))
  AND (:video_ids IS NULL OR d.video_id IN (SELECT value FROM json_each(:video_ids)))
  AND EXISTS (SELECT 1 FROM embeddings AS e WHERE e.owner_id = d.owner_id AND e.model = :model)
ORDER BY f.rank LIMIT :n

-- name: text_candidates_videos --
-- The same within a few videos: every match is ranked, then filtered (probing the
-- index once per video document and row is far slower).
SELECT d.owner_id FROM (
    SELECT rowid, rank FROM search_fts WHERE search_fts MATCH :match) AS f
JOIN search_docs AS d ON d.id = f.rowid
WHERE d.video_id IN (SELECT value FROM json_each(:video_ids))
  AND (:kinds IS NULL OR d.kind IN (SELECT value FROM json_each(:kinds)))
  AND EXISTS (SELECT 1 FROM embeddings AS e WHERE e.owner_id = d.owner_id AND e.model = :model)
ORDER BY f.rank LIMIT :n

-- name: candidates_by_rowid --
SELECT owner_id, kind, vector FROM embeddings WHERE rowid IN (SELECT value FROM json_each(:rids))

-- name: candidates_by_owner --
SELECT owner_id, kind, vector FROM embeddings
WHERE model = :model AND owner_id IN (SELECT value FROM json_each(:ids))

-- name: segment_hits --
SELECT s.id, s.video_id, s.text, s.t_start, s.t_end, v.original_path, v.title
FROM transcript_segments AS s JOIN videos AS v ON v.id = s.video_id
WHERE s.id IN (SELECT value FROM json_each(:ids))

-- name: caption_hits --
-- A caption's hit spans its frame's scene, and shows the frame.
SELECT c.id, c.video_id, c.caption, c.ocr_text, c.t, v.original_path, v.title,
       f.path AS frame_path, s.t_start AS scene_start, s.t_end AS scene_end
FROM frame_captions AS c
JOIN videos AS v ON v.id = c.video_id
LEFT JOIN frames AS f ON f.id = c.frame_id AND f.video_id = c.video_id
LEFT JOIN scenes AS s ON s.id = f.scene_id AND s.video_id = f.video_id
WHERE c.id IN (SELECT value FROM json_each(:ids))

-- name: get_cached --
SELECT key, value FROM cache WHERE key IN (SELECT value FROM json_each(:keys))

-- name: put_cached --
INSERT INTO cache (key, value) VALUES (:key, :value)
ON CONFLICT (key) DO UPDATE SET value = excluded.value

-- name: insert_usage --
INSERT INTO usage (
    video_id, stage, provider, model, job_id, requests, input_tokens, output_tokens,
    audio_seconds, images, texts, cost_usd, created_at
) VALUES (
    :video_id, :stage, :provider, :model, :job_id, :requests, :input_tokens, :output_tokens,
    :audio_seconds, :images, :texts, :cost_usd, :created_at
)

-- name: usage_summary --
SELECT count(*) AS n_rows,
       coalesce(sum(requests), 0) AS requests,
       coalesce(sum(input_tokens), 0) AS input_tokens,
       coalesce(sum(output_tokens), 0) AS output_tokens,
       coalesce(sum(audio_seconds), 0.0) AS audio_seconds,
       coalesce(sum(images), 0) AS images,
       coalesce(sum(texts), 0) AS texts,
       coalesce(sum(cost_usd), 0.0) AS cost_usd
FROM usage
WHERE (:video_id IS NULL OR video_id = :video_id)
  AND (:job_id IS NULL OR job_id = :job_id)
  AND (:batch_id IS NULL OR video_id IN (SELECT video_id FROM jobs WHERE batch_id = :batch_id))

-- name: live_job --
-- The oldest live job of a video, which a unique enqueue hands back.
SELECT * FROM jobs
WHERE video_id = :video_id AND status IN ('pending', 'processing')
ORDER BY created_at, id
LIMIT 1

-- name: insert_job --
INSERT INTO jobs (
    id, video_id, queue, priority, status, attempts, max_attempts, run_after,
    batch_id, created_at, updated_at, dedupe
) VALUES (
    :id, :video_id, :queue, :priority, 'pending', 0, :max_attempts, :now,
    :batch_id, :created_at, :now, :dedupe
)
RETURNING *

-- name: insert_batch_job --
INSERT INTO jobs (
    id, video_id, queue, priority, status, attempts, max_attempts, run_after,
    batch_id, created_at, updated_at, dedupe
) VALUES (
    :id, :video_id, :queue, :priority, 'pending', 0, :max_attempts, :now,
    :batch_id, :created_at, :now, 0
)

-- name: reap_expired --
-- A job whose last attempt's worker died has no attempt left: dead-letter it
-- instead of re-claiming it forever.
UPDATE jobs SET status = 'dead', lease_expires_at = NULL, updated_at = :now,
    last_error = COALESCE(last_error || ' / ', '') || 'the worker running the last attempt stopped without finishing it (its lease expired)'
WHERE status = 'processing' AND lease_expires_at <= :now AND attempts >= max_attempts

-- name: claim_queue --
-- Runnable jobs of one queue: the index `jobs_runnable` yields them in claim order.
UPDATE jobs
SET status = 'processing', attempts = attempts + 1, worker_id = :worker_id,
    lease_expires_at = :lease_until, updated_at = :now
WHERE id IN (
    SELECT id FROM jobs
    WHERE queue = :queue
      AND status IN ('pending', 'processing')
      AND ((status = 'pending' AND run_after <= :now)
           OR (status = 'processing' AND lease_expires_at <= :now AND attempts < max_attempts))
    ORDER BY priority DESC, created_at, id
    LIMIT :limit
)
RETURNING *

-- name: claim_queues --
UPDATE jobs
SET status = 'processing', attempts = attempts + 1, worker_id = :worker_id,
    lease_expires_at = :lease_until, updated_at = :now
WHERE id IN (
    SELECT id FROM jobs
    WHERE queue IN (SELECT value FROM json_each(:queues))
      AND status IN ('pending', 'processing')
      AND ((status = 'pending' AND run_after <= :now)
           OR (status = 'processing' AND lease_expires_at <= :now AND attempts < max_attempts))
    ORDER BY priority DESC, created_at, id
    LIMIT :limit
)
RETURNING *

-- name: heartbeat --
UPDATE jobs SET lease_expires_at = :lease_until, updated_at = :now
WHERE id = :id AND worker_id = :worker_id AND status = 'processing'
RETURNING id

-- name: complete --
UPDATE jobs SET status = 'done', lease_expires_at = NULL, last_error = NULL, updated_at = :now
WHERE id = :id AND worker_id = :worker_id AND status = 'processing'
RETURNING id

-- name: fail --
-- With attempts left: back to pending after `retry_in`; else dead, keeping the error.
-- The worker's own cap (:cap, NULL for none) counts when it is lower than the job's.
UPDATE jobs
SET status = CASE WHEN attempts >= min(max_attempts, coalesce(:cap, max_attempts))
                  THEN 'dead' ELSE 'pending' END,
    run_after = CASE WHEN attempts >= min(max_attempts, coalesce(:cap, max_attempts))
                     THEN :now ELSE :retry_at END,
    lease_expires_at = NULL, last_error = :error, updated_at = :now
WHERE id = :id AND worker_id = :worker_id AND status = 'processing'
RETURNING *

-- name: release --
-- A graceful stop: the attempt did not happen.
UPDATE jobs
SET status = 'pending', attempts = max(0, attempts - 1), run_after = :now,
    lease_expires_at = NULL, worker_id = NULL, updated_at = :now
WHERE id = :id AND worker_id = :worker_id AND status = 'processing'
RETURNING id

-- name: replay_one --
-- A replayed job never holds its video's unique slot: another live job may have
-- taken it meanwhile, and replaying is an explicit request to run this one.
UPDATE jobs
SET status = 'pending', attempts = 0, run_after = :now, worker_id = NULL,
    updated_at = :now, dedupe = 0
WHERE id = :id AND status = 'dead'

-- name: replay_all --
UPDATE jobs
SET status = 'pending', attempts = 0, run_after = :now, worker_id = NULL,
    updated_at = :now, dedupe = 0
WHERE status = 'dead'

-- name: cancel --
UPDATE jobs SET status = 'cancelled', updated_at = :now WHERE id = :id AND status = 'pending'

-- name: get_job --
SELECT * FROM jobs WHERE id = :id

-- name: peek --
SELECT * FROM jobs WHERE status = :status ORDER BY priority DESC, created_at, id LIMIT :n

-- name: stats --
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'processing') AS processing,
       count(*) FILTER (WHERE status = 'done') AS done,
       count(*) FILTER (WHERE status = 'dead') AS dead,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       min(created_at) FILTER (WHERE status = 'pending' AND run_after <= :now) AS oldest,
       count(*) FILTER (WHERE last_error IS NOT NULL) AS failed
FROM jobs

-- name: insert_batch --
INSERT INTO batches (id, total, created_at, cancelled) VALUES (:id, :total, :now, 0)

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
WHERE b.id = :id
GROUP BY b.id

-- name: batch_items --
SELECT j.id AS job_id, j.video_id, v.original_path, j.status, j.attempts,
       j.last_error AS error
FROM jobs AS j
LEFT JOIN videos AS v ON v.id = j.video_id
WHERE j.batch_id = :id
ORDER BY j.created_at, j.id

-- name: cancel_batch --
UPDATE batches SET cancelled = 1 WHERE id = :id RETURNING id

-- name: cancel_batch_jobs --
UPDATE jobs SET status = 'cancelled', updated_at = :now
WHERE batch_id = :id AND status = 'pending'

-- name: take_tokens --
-- Refill the bucket for the time since it was last touched, take :amount
-- (negative: give back), never above :capacity; a new bucket starts full.
-- Run under the write lock (BEGIN IMMEDIATE), like every write.
INSERT INTO rate_buckets (key, level, updated)
VALUES (:key, min(:capacity, :capacity - :amount), :now)
ON CONFLICT (key) DO UPDATE SET
    level = min(:capacity, min(:capacity, level + max(0.0, :now - updated) * :rate) - :amount),
    updated = max(updated, :now)
RETURNING level

-- name: take_lease --
-- The lease becomes :owner's when it is free, lapsed, or already :owner's;
-- a row comes back exactly then. Run under the write lock (BEGIN IMMEDIATE).
INSERT INTO run_leases (key, owner, expires)
VALUES (:key, :owner, :expires)
ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires = excluded.expires
WHERE run_leases.owner = excluded.owner OR run_leases.expires <= :now
RETURNING owner

-- name: drop_lease --
DELETE FROM run_leases WHERE key = :key AND owner = :owner
