-- Version 4: usage rows carry the id of the write that made them.
--
-- A usage row is appended, not upserted. When the connection drops after the
-- COMMIT but before its answer, the store writes again: the second INSERT
-- conflicts on `request_id` and adds nothing, so no cost is counted twice.
-- Rows written before this version have no request id (NULLs never conflict).
ALTER TABLE usage ADD COLUMN request_id text COLLATE "C";
CREATE UNIQUE INDEX usage_request_id ON usage (request_id);
