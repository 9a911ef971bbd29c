-- Attention (issue 14): a member's sidebar of rooms and DMs, how far they have read in each,
-- how much each room may notify them, and who was mentioned where. See chatapp/attention/.

-- One row per member and room in their sidebar. A member's sidebar is: the private rooms and
-- DMs they are in (a row is made when they are added, by the trigger below), and the public
-- rooms they posted in (trigger below) or opened while logged in (the room page).
CREATE TABLE attention (
    member_id  INTEGER NOT NULL,
    room       TEXT NOT NULL,
    -- The newest message id they have read here (ids of messages and room events share one
    -- sequence, so any id the page saw is a position). Moves only forward: every write is
    -- max(old, new).
    last_read  INTEGER NOT NULL DEFAULT 0,
    -- NULL: the default, 'all' for a DM and 'mentions' for any other room (chatapp.attention.levels).
    level      TEXT CHECK (level IN ('all', 'mentions', 'nothing')),
    joined_at  TEXT NOT NULL,           -- ISO 8601 UTC, when the room joined the sidebar
    PRIMARY KEY (member_id, room)
) WITHOUT ROWID;

-- Deleting a room's rows, and the levels of one room's members (notifications).
CREATE INDEX attention_by_room ON attention (room, member_id);
-- The levels people chose (the server keeps them in memory): loaded with a seek, not a scan.
CREATE INDEX attention_levels ON attention (member_id, room) WHERE level IS NOT NULL;

-- Mentions of a member (@name, or @here while they were in the room), for their counts and
-- their Mentions list. Written once per stored batch (chatapp/attention/mentions.py).
CREATE TABLE mentions (
    member_id  INTEGER NOT NULL,
    room       TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    PRIMARY KEY (member_id, room, message_id)
) WITHOUT ROWID;
CREATE INDEX mentions_by_member ON mentions (member_id, message_id);  -- the Mentions list, by id
CREATE INDEX mentions_by_message ON mentions (message_id);           -- a deleted message's go with it

-- A member who posts has read the room up to their own message, and the room joins their
-- sidebar (one primary-key upsert per member message; guests' and bots' messages skip it).
CREATE TRIGGER attention_post AFTER INSERT ON messages WHEN NEW.member_id IS NOT NULL BEGIN
    INSERT INTO attention (member_id, room, last_read, joined_at) VALUES (NEW.member_id, NEW.room, NEW.id, NEW.ts)
        ON CONFLICT (member_id, room) DO UPDATE SET last_read = max(last_read, excluded.last_read);
END;

CREATE TRIGGER mentions_message_delete AFTER DELETE ON messages BEGIN
    DELETE FROM mentions WHERE message_id = OLD.id;
END;

-- Added to a private room (or a DM made): it is in their sidebar, read up to its newest
-- message (a DM is new and empty; a private room's older history is not "unread" news).
CREATE TRIGGER attention_room_member_insert AFTER INSERT ON room_members BEGIN
    INSERT INTO attention (member_id, room, last_read, joined_at)
        VALUES (NEW.member_id, NEW.room, coalesce((SELECT max(id) FROM messages WHERE room = NEW.room), 0),
                NEW.added_at)
        ON CONFLICT (member_id, room) DO NOTHING;
END;

-- Removed from it: nothing of it stays with them, not its place, not its mentions.
CREATE TRIGGER attention_room_member_delete AFTER DELETE ON room_members BEGIN
    DELETE FROM attention WHERE member_id = OLD.member_id AND room = OLD.room;
    DELETE FROM mentions WHERE member_id = OLD.member_id AND room = OLD.room;
END;

-- A deleted room leaves every sidebar (a new room of that name starts afresh).
CREATE TRIGGER attention_room_delete AFTER DELETE ON rooms BEGIN
    DELETE FROM attention WHERE room = OLD.name;
END;

-- Existing members start with what they already have: their private rooms and DMs, and the
-- public rooms they posted in, all read (a one-off scan of messages at this migration).
INSERT INTO attention (member_id, room, last_read, joined_at)
    SELECT rm.member_id, rm.room, coalesce((SELECT max(id) FROM messages WHERE room = rm.room), 0), rm.added_at
    FROM room_members rm WHERE true
    ON CONFLICT (member_id, room) DO NOTHING;

INSERT INTO attention (member_id, room, last_read, joined_at)
    SELECT m.member_id, m.room, (SELECT max(id) FROM messages WHERE room = m.room), min(m.ts)
    FROM messages m WHERE m.member_id IS NOT NULL GROUP BY m.member_id, m.room
    ON CONFLICT (member_id, room) DO NOTHING;
