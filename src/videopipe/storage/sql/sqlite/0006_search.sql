-- Version 6: full text in the engine, and vector filters that use an index.
--
-- search_docs holds each segment's and caption's terms, cut by videopipe's one
-- tokenizer (storage/_fulltext.py: `ZX-4471`, `Q3`, `3.5` are whole terms) and
-- joined by spaces; search_fts indexes them (FTS5, ranked by BM25). The FTS5
-- tokenizer keeps `-`, `.` and `_` inside a term, so it cuts the stored text
-- exactly where videopipe did. Triggers keep the index in step with the table,
-- and deleting a video deletes its documents (the foreign key cascades).
CREATE TABLE search_docs (
    id       INTEGER PRIMARY KEY,
    owner_id TEXT NOT NULL UNIQUE,
    video_id TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    kind     TEXT NOT NULL CHECK (kind IN ('segment', 'caption')),
    terms    TEXT NOT NULL
);
CREATE INDEX search_docs_video ON search_docs (video_id, kind);

CREATE VIRTUAL TABLE search_fts USING fts5(
    terms, content = 'search_docs', content_rowid = 'id',
    tokenize = "unicode61 remove_diacritics 0 tokenchars '-._'"
);

CREATE TRIGGER search_docs_insert AFTER INSERT ON search_docs BEGIN
    INSERT INTO search_fts (rowid, terms) VALUES (new.id, new.terms);
END;

CREATE TRIGGER search_docs_delete AFTER DELETE ON search_docs BEGIN
    INSERT INTO search_fts (search_fts, rowid, terms) VALUES ('delete', old.id, old.terms);
END;

CREATE TRIGGER search_docs_update AFTER UPDATE ON search_docs BEGIN
    INSERT INTO search_fts (search_fts, rowid, terms) VALUES ('delete', old.id, old.terms);
    INSERT INTO search_fts (rowid, terms) VALUES (new.id, new.terms);
END;

-- The segments and captions stored before this version are indexed when the store
-- opens (the terms are cut in Python): this row asks for it, and goes when done.
CREATE TABLE search_backfill (pending INTEGER NOT NULL);
INSERT INTO search_backfill (pending) VALUES (1);

-- How many documents hold a term: search leaves the commonest terms out of the
-- full-text candidates (they rank little and would make BM25 score most rows).
CREATE VIRTUAL TABLE search_vocab USING fts5vocab (search_fts, 'row');

-- Searches filtered to a few videos read only their vectors; a model's dimensions
-- are two index probes.
CREATE INDEX embeddings_video ON embeddings (video_id, model, kind);
CREATE INDEX embeddings_model_dim ON embeddings (model, dim);

-- A video is found by the path or URL it was made from (`find_videos_by_path`).
CREATE INDEX videos_original_path ON videos (original_path);
