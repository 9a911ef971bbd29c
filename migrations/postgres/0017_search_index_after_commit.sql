-- SQLite's 0017 moved its FTS5 indexing out of each commit (chatapp/storage/sqlite/indexer.py).
-- PostgreSQL keeps indexing in the commit: its pg_trgm GIN index takes new rows into a
-- pending list (fastupdate), which does not cost a segment flush per transaction. Nothing
-- changes here; the file keeps the two backends' migration numbers in step.
SELECT 1;
