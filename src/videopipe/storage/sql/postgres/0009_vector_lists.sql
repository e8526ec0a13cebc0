-- Version 9: an inverted-file (IVF) index of each model's vectors (storage/_ivf.py),
-- for servers without pgvector.
--
-- A model with enough vectors is split into lists: vector_lists holds one
-- centroid per list, vector_index the model's index (its dimension, and how many
-- vectors it was trained on), and each embedding names its list in `list_id`. A
-- search reads the vectors of the few lists nearest its query through
-- embeddings_list, sent as one packed binary string per query (array_send of
-- each vector, concatenated), never row by row. With pgvector, the HNSW index
-- answers instead and the lists are not kept. Vectors without a list (saved
-- while pgvector answered, or before the model had enough vectors) are read too,
-- through embeddings_unlisted.
CREATE TABLE vector_index (
    model        text PRIMARY KEY,
    dim          integer NOT NULL,
    trained_rows bigint NOT NULL,
    saved_since  bigint NOT NULL DEFAULT 0
);

CREATE TABLE vector_lists (
    list_id  bigint PRIMARY KEY,
    model    text NOT NULL,
    centroid real[] NOT NULL
);
CREATE INDEX vector_lists_model ON vector_lists (model);

ALTER TABLE embeddings ADD COLUMN list_id bigint;
CREATE INDEX embeddings_list ON embeddings (list_id, kind) WHERE list_id IS NOT NULL;
CREATE INDEX embeddings_unlisted ON embeddings (model, dim) WHERE list_id IS NULL;
