-- Private rooms and direct messages (chatapp/privacy.py). A room is public (as before),
-- private (its members only) or a direct message between two members ('dm', named
-- dm-<lower id>-<higher id>). Private rooms and DMs get their rooms row when they are
-- created, before any message, so the messages trigger's INSERT OR IGNORE leaves it be.
ALTER TABLE rooms ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public'
    CHECK (visibility IN ('public', 'private', 'dm'));

-- Who may see a private room or a DM. Rows go with their room (see the trigger below);
-- member ids are never reused (members.id is AUTOINCREMENT).
CREATE TABLE room_members (
    room      TEXT NOT NULL,
    member_id INTEGER NOT NULL REFERENCES members (id),
    added_at  TEXT NOT NULL,
    PRIMARY KEY (room, member_id)
) WITHOUT ROWID;

-- A member's own private rooms and DMs, for the index page.
CREATE INDEX room_members_by_member ON room_members (member_id, room);

-- The public room list skips private rooms without reading them: a partial index the
-- index page's `visibility = 'public'` activity query seeks instead of rooms_activity.
CREATE INDEX rooms_public_activity ON rooms (active_at, name) WHERE visibility = 'public';

-- The server keeps the names of non-public rooms in memory (a public room costs no read);
-- this index makes loading them at start-up a seek, not a scan of every room.
CREATE INDEX rooms_not_public ON rooms (visibility) WHERE visibility <> 'public';

CREATE TRIGGER rooms_members_delete AFTER DELETE ON rooms BEGIN
    DELETE FROM room_members WHERE room = OLD.name;
END;
