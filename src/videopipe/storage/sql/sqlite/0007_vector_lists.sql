-- Version 7: an inverted-file (IVF) index of each model's vectors (storage/_ivf.py).
--
-- A model with enough vectors is split into lists: vector_lists holds one
-- centroid per list, vector_index the model's index (its dimension, and how many
-- vectors it was trained on), and each embedding names its list in `list_id`.
-- vector_postings holds a copy of each indexed vector, keyed so that the rows of
-- one list lie together: its `id` is `list_id * 2^40` plus a number within the
-- list. A search reads the few lists nearest its query as a handful of range
-- scans, never the whole model. Triggers keep the postings in step with the
-- embeddings (insert, upsert, delete, and the cascade from a deleted video).
-- Embeddings stored before this version have no list until their model is
-- trained, which happens when a save brings it over the threshold.
CREATE TABLE vector_index (
    model        TEXT PRIMARY KEY,
    dim          INTEGER NOT NULL,
    trained_rows INTEGER NOT NULL,
    saved_since  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE vector_lists (
    list_id  INTEGER PRIMARY KEY,
    model    TEXT NOT NULL,
    centroid BLOB NOT NULL
);
CREATE INDEX vector_lists_model ON vector_lists (model);

ALTER TABLE embeddings ADD COLUMN list_id INTEGER;

CREATE TABLE vector_postings (
    id       INTEGER PRIMARY KEY,
    owner_id TEXT NOT NULL,
    model    TEXT NOT NULL,
    kind     TEXT NOT NULL,
    vector   BLOB NOT NULL
);
CREATE UNIQUE INDEX vector_postings_owner ON vector_postings (owner_id, model);

CREATE TRIGGER vector_postings_insert AFTER INSERT ON embeddings
WHEN new.list_id IS NOT NULL BEGIN
    INSERT INTO vector_postings (id, owner_id, model, kind, vector)
    VALUES (
        coalesce(
            (SELECT max(id) FROM vector_postings
             WHERE id >= new.list_id * 1099511627776 AND id < (new.list_id + 1) * 1099511627776),
            new.list_id * 1099511627776) + 1,
        new.owner_id, new.model, new.kind, new.vector);
END;

CREATE TRIGGER vector_postings_update AFTER UPDATE OF list_id, kind, vector ON embeddings BEGIN
    DELETE FROM vector_postings WHERE owner_id = old.owner_id AND model = old.model;
    INSERT INTO vector_postings (id, owner_id, model, kind, vector)
    SELECT coalesce(
               (SELECT max(id) FROM vector_postings
                WHERE id >= new.list_id * 1099511627776 AND id < (new.list_id + 1) * 1099511627776),
               new.list_id * 1099511627776) + 1,
           new.owner_id, new.model, new.kind, new.vector
    WHERE new.list_id IS NOT NULL;
END;

CREATE TRIGGER vector_postings_delete AFTER DELETE ON embeddings
WHEN old.list_id IS NOT NULL BEGIN
    DELETE FROM vector_postings WHERE owner_id = old.owner_id AND model = old.model;
END;
