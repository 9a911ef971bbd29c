-- The room list is paged and searched instead of read whole, so that no page costs more
-- with the number of rooms (a flood of new rooms once made `/` 36 MB).

-- Activity order (latest message first) is paged by (active_at, name) through one
-- index. The column is virtual (computed when read, nothing stored) and never NULL, so a
-- room without messages still has a place in the order and the keyset comparison
-- `(active_at, name) < (?, ?)` seeks straight to the next page.
ALTER TABLE rooms ADD COLUMN active_at TEXT GENERATED ALWAYS AS (coalesce(last_message_at, '')) VIRTUAL;
CREATE INDEX rooms_activity ON rooms (active_at, name);

-- Finding a room by any part of its name: a trigram index over room names, kept by
-- triggers that fire only when a room is created or deleted (never per message).
CREATE VIRTUAL TABLE rooms_fts USING fts5 (name, tokenize = 'trigram', content = 'rooms',
                                          content_rowid = 'rowid', columnsize = 0);

CREATE TRIGGER rooms_fts_insert AFTER INSERT ON rooms BEGIN
    INSERT INTO rooms_fts (rowid, name) VALUES (NEW.rowid, NEW.name);
END;

CREATE TRIGGER rooms_fts_delete AFTER DELETE ON rooms BEGIN
    INSERT INTO rooms_fts (rooms_fts, rowid, name) VALUES ('delete', OLD.rowid, OLD.name);
END;

INSERT INTO rooms_fts (rowid, name) SELECT rowid, name FROM rooms;

-- The admin's totals, kept by triggers so the page's five-second refresh reads one row
-- instead of counting every room (one more one-row update per message: measured at no
-- visible cost next to the search index's trigger).
CREATE TABLE totals (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    rooms    INTEGER NOT NULL,
    messages INTEGER NOT NULL
);

INSERT INTO totals (id, rooms, messages)
    VALUES (1, (SELECT count(*) FROM rooms), (SELECT coalesce(sum(message_count), 0) FROM rooms));

CREATE TRIGGER totals_room_insert AFTER INSERT ON rooms BEGIN
    UPDATE totals SET rooms = rooms + 1 WHERE id = 1;
END;

CREATE TRIGGER totals_room_delete AFTER DELETE ON rooms BEGIN
    UPDATE totals SET rooms = rooms - 1 WHERE id = 1;
END;

CREATE TRIGGER totals_message_insert AFTER INSERT ON messages BEGIN
    UPDATE totals SET messages = messages + 1 WHERE id = 1;
END;

CREATE TRIGGER totals_message_delete AFTER DELETE ON messages BEGIN
    UPDATE totals SET messages = messages - 1 WHERE id = 1;
END;
