-- Rooms exist once they hold a message; their counters are kept by triggers so the
-- index page never has to count a large table.
CREATE TABLE rooms (
    name            TEXT PRIMARY KEY,
    created_at      TEXT NOT NULL,
    message_count   INTEGER NOT NULL DEFAULT 0,
    last_message_at TEXT,
    locked          INTEGER NOT NULL DEFAULT 0,
    retention_days  INTEGER            -- NULL keeps messages forever
);

-- AUTOINCREMENT: ids are never reused after a delete, so clients resuming with
-- ?after=<id> can never be handed an old id for a new message.
CREATE TABLE messages (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    room      TEXT NOT NULL,
    user      TEXT NOT NULL,
    body      TEXT NOT NULL,
    ts        TEXT NOT NULL,
    client_id TEXT
);

CREATE INDEX messages_room_id ON messages (room, id);
CREATE UNIQUE INDEX messages_room_client_id ON messages (room, client_id) WHERE client_id IS NOT NULL;

CREATE TRIGGER messages_count_insert AFTER INSERT ON messages BEGIN
    INSERT OR IGNORE INTO rooms (name, created_at) VALUES (NEW.room, NEW.ts);
    UPDATE rooms SET message_count = message_count + 1, last_message_at = NEW.ts
     WHERE name = NEW.room;
END;

CREATE TRIGGER messages_count_delete AFTER DELETE ON messages BEGIN
    UPDATE rooms SET message_count = message_count - 1 WHERE name = OLD.room;
END;
