-- Version 10: a video's title, which search hits and reports show (the file name
-- when it is NULL).
ALTER TABLE videos ADD COLUMN title text;
