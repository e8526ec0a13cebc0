-- Version 4: leases on runs (a video being processed), shared by every process using the file.
--
-- One row per held key: its owner and when the lease lapses (seconds since the
-- epoch, fractional). A lapsed row is taken over by the next take.
CREATE TABLE run_leases (
    key     TEXT PRIMARY KEY,
    owner   TEXT NOT NULL,
    expires REAL NOT NULL
);
