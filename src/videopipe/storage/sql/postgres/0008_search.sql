-- Version 8: full text in the engine, and vector scans that page through an index.
--
-- search_docs holds each segment's and caption's terms as a tsvector with a GIN
-- index. The terms are cut by videopipe's one tokenizer (storage/_fulltext.py),
-- not by PostgreSQL's parser and a text search configuration: the `english`
-- configuration stems (`budgets` -> `budget`, fine) but its parser also splits
-- `ZX-4471` into `zx-4471`, `zx` and `4471` and reads `3.5` as a version
-- number, and `simple` splits the same way, so neither keeps the terms SQLite and
-- MemoryStore keep. Queries are parsed the same way (websearch syntax: "phrases",
-- -exclusions) and sent as a tsquery. Deleting a video deletes its documents.
CREATE TABLE search_docs (
    owner_id text PRIMARY KEY,
    video_id text NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    kind     text NOT NULL CHECK (kind IN ('segment', 'caption')),
    tsv      tsvector NOT NULL
);
CREATE INDEX search_docs_tsv ON search_docs USING gin (tsv);
CREATE INDEX search_docs_video ON search_docs (video_id, kind);

-- The segments and captions stored before this version are indexed when the store
-- opens (the terms are cut in Python): this row asks for it, and goes when done.
CREATE TABLE search_backfill (pending integer NOT NULL);
INSERT INTO search_backfill (pending) VALUES (1);

-- An exact search filtered to a few videos reads only their vectors.
CREATE INDEX embeddings_video ON embeddings (video_id, model, owner_id);

-- A video is found by the path or URL it was made from (`find_videos_by_path`).
CREATE INDEX videos_original_path ON videos (original_path);
