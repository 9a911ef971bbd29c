-- Attention (SQLite: migrations/0013_attention.sql; chatapp/attention/): a member's sidebar of
-- rooms and DMs, how far they have read in each, how much each room may notify them, and
-- who was mentioned where.
CREATE TABLE attention (
    member_id  bigint NOT NULL,
    room       text COLLATE "C" NOT NULL,
    last_read  bigint NOT NULL DEFAULT 0,  -- the newest id read here; only ever moves forward
    level      text CHECK (level IN ('all', 'mentions', 'nothing')),  -- NULL: the room's default
    joined_at  text NOT NULL,
    PRIMARY KEY (member_id, room)
);
CREATE INDEX attention_by_room ON attention (room, member_id);
CREATE INDEX attention_levels ON attention (member_id, room) WHERE level IS NOT NULL;

CREATE TABLE mentions (
    member_id  bigint NOT NULL,
    room       text COLLATE "C" NOT NULL,
    message_id bigint NOT NULL,
    PRIMARY KEY (member_id, room, message_id)
);
CREATE INDEX mentions_by_member ON mentions (member_id, message_id);
CREATE INDEX mentions_by_message ON mentions (message_id);

-- A member who posts has read the room up to their own message, and the room joins their
-- sidebar: per statement, one upsert per (member, room) of the batch.
CREATE FUNCTION chatapp_attention_post() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO attention (member_id, room, last_read, joined_at)
        SELECT i.member_id, i.room, max(i.id), (array_agg(i.ts ORDER BY i.id))[1]
          FROM inserted i WHERE i.member_id IS NOT NULL GROUP BY i.member_id, i.room
        ON CONFLICT (member_id, room) DO UPDATE SET last_read = greatest(attention.last_read, excluded.last_read);
    RETURN NULL;
END $$;

CREATE TRIGGER attention_post AFTER INSERT ON messages
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION chatapp_attention_post();

CREATE FUNCTION chatapp_mentions_message_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM mentions x USING deleted d WHERE x.message_id = d.id;
    RETURN NULL;
END $$;

CREATE TRIGGER mentions_message_delete AFTER DELETE ON messages
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION chatapp_mentions_message_deleted();

-- Added to a private room (or a DM made): in their sidebar, read up to its newest message.
-- Removed from it: nothing of it stays with them, not its place, not its mentions.
CREATE FUNCTION chatapp_attention_room_member() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO attention (member_id, room, last_read, joined_at)
            VALUES (NEW.member_id, NEW.room, coalesce((SELECT max(id) FROM messages WHERE room = NEW.room), 0),
                    NEW.added_at)
            ON CONFLICT (member_id, room) DO NOTHING;
    ELSE
        DELETE FROM attention WHERE member_id = OLD.member_id AND room = OLD.room;
        DELETE FROM mentions WHERE member_id = OLD.member_id AND room = OLD.room;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER attention_room_member_insert AFTER INSERT ON room_members
    FOR EACH ROW EXECUTE FUNCTION chatapp_attention_room_member();
CREATE TRIGGER attention_room_member_delete AFTER DELETE ON room_members
    FOR EACH ROW EXECUTE FUNCTION chatapp_attention_room_member();

-- A deleted room leaves every sidebar (a new room of that name starts afresh).
CREATE FUNCTION chatapp_attention_room_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM attention a USING deleted d WHERE a.room = d.name;
    RETURN NULL;
END $$;

CREATE TRIGGER attention_room_delete AFTER DELETE ON rooms
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION chatapp_attention_room_deleted();

-- Existing members start with what they already have, all read.
INSERT INTO attention (member_id, room, last_read, joined_at)
    SELECT rm.member_id, rm.room, coalesce((SELECT max(id) FROM messages WHERE room = rm.room), 0), rm.added_at
    FROM room_members rm
    ON CONFLICT (member_id, room) DO NOTHING;

INSERT INTO attention (member_id, room, last_read, joined_at)
    SELECT m.member_id, m.room, max(m.id), min(m.ts)
    FROM messages m WHERE m.member_id IS NOT NULL GROUP BY m.member_id, m.room
    ON CONFLICT (member_id, room) DO NOTHING;
