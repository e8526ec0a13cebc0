-- Version 3: token buckets for rate limits shared by every process using the file.
--
-- One row per bucket: its level (tokens, below 0 while in debt) when it was
-- last touched, at `updated` (seconds since the epoch, fractional).
CREATE TABLE rate_buckets (
    key     TEXT PRIMARY KEY,
    level   REAL NOT NULL,
    updated REAL NOT NULL
);
