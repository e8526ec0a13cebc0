-- Version 2: at most one live job per video among jobs enqueued with `unique`.
--
-- `enqueue(unique=True)` sets `dedupe` and inserts with ON CONFLICT against this
-- index, so two concurrent enqueues of one video make one job, whatever the
-- race. Jobs from version 1 keep `dedupe = false`: they never held the slot, and
-- `enqueue` still finds them first, so no existing row can violate the index.
ALTER TABLE jobs ADD COLUMN dedupe boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX jobs_one_live_per_video ON jobs (video_id)
    WHERE dedupe AND status IN ('pending', 'processing');
