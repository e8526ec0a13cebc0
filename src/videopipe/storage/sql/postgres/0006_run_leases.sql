-- Version 6: leases on runs (a video being processed), shared by every worker on every machine.
--
-- One row per held key: its owner and when the lease lapses (seconds since the
-- epoch on the database's clock). A lapsed row is taken over by the next take.
CREATE TABLE run_leases (
    key     text COLLATE "C" PRIMARY KEY,
    owner   text NOT NULL,
    expires double precision NOT NULL
);
