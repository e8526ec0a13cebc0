-- Version 2: at most one live job per video among jobs enqueued with `unique`.
--
-- `enqueue(unique=True)` sets `dedupe`; this index makes a second live dedupe
-- job for the same video impossible, whatever the race. Jobs from version 1
-- keep `dedupe = 0`: they never held the slot, and `enqueue` still finds them
-- first, so no existing row can violate the new index.
ALTER TABLE jobs ADD COLUMN dedupe INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX jobs_one_live_per_video ON jobs (video_id)
    WHERE dedupe = 1 AND status IN ('pending', 'processing');
