-- SQLite compares text byte for byte (BINARY) unless told otherwise: what
-- the PostgreSQL migration of this name does (identifiers collated "C")
-- it has always done. Kept so that both backends list the same migrations.
SELECT 1;
