-- Version 5: how each scene begins and ends, and where its picture is.
--
-- `transition_in` / `transition_out` hold the kind of boundary ('cut',
-- 'fade_in', 'fade_out', 'dissolve'); `content_start` / `content_end` the span
-- of the scene that is not a black stretch. Scenes stored before have NULLs.
ALTER TABLE scenes ADD COLUMN transition_in TEXT;
ALTER TABLE scenes ADD COLUMN transition_out TEXT;
ALTER TABLE scenes ADD COLUMN content_start REAL;
ALTER TABLE scenes ADD COLUMN content_end REAL;
