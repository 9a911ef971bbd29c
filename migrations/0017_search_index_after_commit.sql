-- The search index is filled after the commits, not inside them (chatapp/storage/sqlite/indexer.py).
--
-- Indexing each message inside its batch's transaction made FTS5 flush a new segment at
-- every commit: about 60 µs of a one-message commit's 230 µs, the most expensive part of
-- a chat message at a steady load (batches of one) after the fsync itself, and the cause
-- of most of its latency tail. Now a background step indexes a few hundred messages at a
-- time; search reads the messages not yet indexed (at most a fraction of a second's) from
-- search_text directly (chatapp/storage/sqlite/search.py), so nothing sent is unfindable.

-- Every message with id <= upto is in messages_fts; the ones after it are not yet.
CREATE TABLE search_indexed (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    upto INTEGER NOT NULL
);
INSERT INTO search_indexed (id, upto) VALUES (1, (SELECT coalesce(max(id), 0) FROM messages));

DROP TRIGGER messages_fts_insert;

-- One INSERT here is one step: it indexes the messages after upto, up to NEW.upto, and
-- moves upto, atomically without a transaction on the shared write connection (like
-- room_events). The row itself is not kept.
CREATE TABLE search_index_steps (upto INTEGER NOT NULL);

CREATE TRIGGER search_index_step AFTER INSERT ON search_index_steps BEGIN
    INSERT INTO messages_fts (rowid, body_norm)
        SELECT id, body_norm FROM search_text
        WHERE id > (SELECT upto FROM search_indexed) AND id <= NEW.upto;
    UPDATE search_indexed SET upto = NEW.upto WHERE upto < NEW.upto;
    DELETE FROM search_index_steps;
END;

-- An edit re-indexes a message that is indexed already; one that is not yet gets its
-- new text when its step comes.
DROP TRIGGER messages_fts_update;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF id, body ON messages
WHEN OLD.id <= (SELECT upto FROM search_indexed) BEGIN
    DELETE FROM messages_fts WHERE rowid = OLD.id;
    INSERT INTO messages_fts (rowid, body_norm) SELECT id, body_norm FROM search_text WHERE id = NEW.id;
END;
