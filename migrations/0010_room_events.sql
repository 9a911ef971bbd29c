-- Richer messages (issue 13): edits, replies, reactions, attachments, bots, and one ordered
-- log of every change to a room, so a page that reconnects with ?after=<id> is sent what
-- changed while it was away, once and in order (chatapp/changes.py, docs/protocol.md).

ALTER TABLE messages ADD COLUMN edited_at TEXT;    -- NULL: never edited
ALTER TABLE messages ADD COLUMN reply_to INTEGER;  -- the message this one answers (same room)
-- {"<emoji>": ["name", ...], ...} in the order reactions were first given; NULL: none.
ALTER TABLE messages ADD COLUMN reactions TEXT;
-- The attached file's description as JSON (chatapp/files.py); its bytes are in files.
ALTER TABLE messages ADD COLUMN attachment TEXT;
ALTER TABLE messages ADD COLUMN bot_id INTEGER;    -- sent by this bot (chatapp/bots/)

-- Changes to a room after its messages were sent. An event's id is drawn from the same
-- sequence as message ids (messages' AUTOINCREMENT counter in sqlite_sequence), so one
-- cursor orders messages and changes alike: "everything with an id above 120" is exact.
-- Each event is written by one INSERT whose trigger below applies it, so the change and
-- its place in the log are one atomic statement.
CREATE TABLE room_events (
    id         INTEGER PRIMARY KEY,
    room       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('edit', 'delete', 'reactions', 'clear')),
    message_id INTEGER,          -- NULL for 'clear'
    ts         TEXT NOT NULL,
    data       TEXT              -- edit: the new body; reactions: the new reactions JSON
);
CREATE INDEX room_events_room_id ON room_events (room, id);
CREATE INDEX room_events_message ON room_events (message_id) WHERE message_id IS NOT NULL;

-- The next id of the shared sequence, for the INSERT that writes an event.
CREATE VIEW next_event_id AS
    SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0) + 1 AS id;

CREATE TRIGGER room_events_sequence AFTER INSERT ON room_events BEGIN
    INSERT INTO sqlite_sequence (name, seq)
        SELECT 'messages', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'messages');
    UPDATE sqlite_sequence SET seq = NEW.id WHERE name = 'messages' AND seq < NEW.id;
END;

-- Only the newest edit and the newest reactions of a message matter to a page catching up
-- (each carries the whole new state), so older ones are dropped as newer ones arrive.
CREATE TRIGGER room_events_edit AFTER INSERT ON room_events WHEN NEW.kind = 'edit' BEGIN
    UPDATE messages SET body = NEW.data, edited_at = NEW.ts WHERE id = NEW.message_id;
    DELETE FROM room_events WHERE message_id = NEW.message_id AND kind = 'edit' AND id < NEW.id;
END;

CREATE TRIGGER room_events_reactions AFTER INSERT ON room_events WHEN NEW.kind = 'reactions' BEGIN
    UPDATE messages SET reactions = NEW.data WHERE id = NEW.message_id;
    DELETE FROM room_events WHERE message_id = NEW.message_id AND kind = 'reactions' AND id < NEW.id;
END;

CREATE TRIGGER room_events_delete AFTER INSERT ON room_events WHEN NEW.kind = 'delete' BEGIN
    DELETE FROM messages WHERE id = NEW.message_id;
END;

-- A deleted message leaves nothing of its text behind: its edits (which hold old text)
-- and reactions go with it; the 'delete' event stays, for pages that still show it.
CREATE TRIGGER messages_events_delete AFTER DELETE ON messages BEGIN
    DELETE FROM room_events WHERE message_id = OLD.id AND kind IN ('edit', 'reactions');
END;
