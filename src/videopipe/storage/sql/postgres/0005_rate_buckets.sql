-- Version 5: token buckets for rate limits shared by every worker on every machine.
--
-- One row per bucket: its level (tokens, below 0 while in debt) when it was
-- last touched, at `updated` (seconds since the epoch on the database's clock).
CREATE TABLE rate_buckets (
    key     text COLLATE "C" PRIMARY KEY,
    level   double precision NOT NULL,
    updated double precision NOT NULL
);
