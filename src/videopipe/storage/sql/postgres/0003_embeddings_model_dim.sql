-- Version 3: the dimensions of a model's vectors, found without reading them.
--
-- Search checks that the query vector has the dimension of the stored vectors
-- of its model: min(dim) and max(dim) over this index are two index probes,
-- however many vectors the model has. pgvector's part of the schema (the `vec`
-- column and the HNSW indexes) is not a migration: the extension may be
-- installed on the server after the schema was created, and it is absent from
-- many servers, so `PostgresStore` adds it when it opens, if pgvector is there.
CREATE INDEX embeddings_model_dim ON embeddings (model, dim);
