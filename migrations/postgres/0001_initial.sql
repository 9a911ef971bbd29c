-- chatapp on PostgreSQL: the schema of SQLite's migrations 0001 to 0010 in one step, with the
-- same tables, columns (in the same order), names and observable behaviour. Later feature
-- migrations are ported one file each, under the same number as SQLite's (0011_files.sql …).
--
-- Differences, each for a reason:
-- * Text that is sorted or compared as a key is COLLATE "C": byte order, as SQLite's BINARY,
--   whatever the database's locale (room list cursors and name prefixes depend on it).
-- * Counters are kept by statement-level triggers over transition tables: one update per
--   room per batch, not one per message.
-- * The ordering point (see chatapp/storage/postgres/ordering.py): messages and room_events
--   carry a shard, and their ids are drawn only while the shard's row in `shards` is locked.
-- * Totals are kept per shard, so writers of different shards never wait on one row.
-- * Search is a pg_trgm GIN index over chatapp_search_text(body) instead of FTS5.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- ---- the ordering point ----------------------------------------------------------------

-- One row per shard; a write that adds to the log of a room first locks its room's shard
-- row (FOR UPDATE) and only then draws ids, so ids commit in id order within a shard and a
-- reader following `shard = s AND id > cursor` never skips a row that commits late.
-- The count (16) is also in chatapp_shard() below and in chatapp.storage.postgres.ordering,
-- which checks at start-up that all three agree.
CREATE TABLE shards (
    id smallint PRIMARY KEY CHECK (id >= 0)
);
INSERT INTO shards (id) SELECT generate_series(0, 15);

-- A room's shard: the first 32 bits of the MD5 of its name, modulo the shard count, computed
-- identically in Python (ordering.shard_of); never hashtext(), whose values may change.
CREATE FUNCTION chatapp_shard(room text) RETURNS smallint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (('x' || substr(md5(room), 1, 8))::bit(32)::bigint % 16)::smallint;

-- Message ids and room event ids come from one sequence, so one cursor orders both.
-- CACHE 1 (checked at start-up): a cached block would hand ids out of order across sessions.
CREATE SEQUENCE log_ids AS bigint CACHE 1;

-- BEFORE INSERT on messages and room_events: set the row's shard, lock the shard's row (a
-- no-op when the transaction holds it already, as chatapp's do, having taken its shards in
-- ascending order), then draw the id. Even a row inserted by hand (psql) keeps the order.
-- chatapp.unordered = on turns the lock off: only for the test that shows what it prevents.
CREATE FUNCTION chatapp_log_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.shard := chatapp_shard(NEW.room);
    IF coalesce(current_setting('chatapp.unordered', true), '') <> 'on' THEN
        PERFORM 1 FROM shards WHERE id = NEW.shard FOR UPDATE;
    END IF;
    NEW.id := nextval('log_ids');
    RETURN NEW;
END $$;

-- ---- rooms and messages (SQLite 0001, 0004, 0006, 0007, 0008, 0010) ----------------------

CREATE TABLE rooms (
    name            text COLLATE "C" PRIMARY KEY,
    created_at      text NOT NULL,
    message_count   integer NOT NULL DEFAULT 0,
    last_message_at text COLLATE "C",
    locked          integer NOT NULL DEFAULT 0,
    retention_days  integer,            -- NULL keeps messages forever
    active_at       text COLLATE "C" GENERATED ALWAYS AS (coalesce(last_message_at, '')) STORED,
    visibility      text NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'private', 'dm')),
    -- SQLite's rowid: the order (and cursor) of the room list's name search.
    id              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    shard           smallint GENERATED ALWAYS AS (chatapp_shard(name)) STORED
);
CREATE INDEX rooms_activity ON rooms (active_at, name);
CREATE INDEX rooms_public_activity ON rooms (active_at, name) WHERE visibility = 'public';
CREATE INDEX rooms_not_public ON rooms (visibility) WHERE visibility <> 'public';
CREATE INDEX rooms_name_trgm ON rooms USING gin (name gin_trgm_ops);

CREATE TABLE messages (
    id         bigint PRIMARY KEY,      -- from log_ids, set by chatapp_log_row()
    room       text COLLATE "C" NOT NULL,
    "user"     text NOT NULL,
    body       text NOT NULL,
    ts         text COLLATE "C" NOT NULL,
    client_id  text,
    member_id  bigint,                  -- the sender's account; NULL for a guest
    edited_at  text,                    -- NULL: never edited
    reply_to   bigint,                  -- the message this one answers (same room)
    reactions  text,                    -- {"<emoji>": ["name", ...]}; NULL: none
    attachment text,                    -- the attached file's description as JSON
    bot_id     bigint,                  -- sent by this bot
    shard      smallint NOT NULL        -- chatapp_shard(room), set by chatapp_log_row()
);
CREATE INDEX messages_room_id ON messages (room, id);
CREATE UNIQUE INDEX messages_room_client_id ON messages (room, client_id) WHERE client_id IS NOT NULL;
CREATE INDEX messages_room_ts_user ON messages (room, ts, "user");
CREATE INDEX messages_shard_id ON messages (shard, id);

CREATE TABLE room_events (
    id         bigint PRIMARY KEY,      -- from log_ids, set by chatapp_log_row()
    room       text COLLATE "C" NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('edit', 'delete', 'reactions', 'clear')),
    message_id bigint,                  -- NULL for 'clear'
    ts         text COLLATE "C" NOT NULL,
    data       text,                    -- edit: the new body; reactions: the new reactions JSON
    shard      smallint NOT NULL
);
CREATE INDEX room_events_room_id ON room_events (room, id);
CREATE INDEX room_events_message ON room_events (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX room_events_shard_id ON room_events (shard, id);

CREATE TRIGGER messages_log_row BEFORE INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION chatapp_log_row();
CREATE TRIGGER room_events_log_row BEFORE INSERT ON room_events
    FOR EACH ROW EXECUTE FUNCTION chatapp_log_row();

-- The admin's totals, one row per shard: a message's transaction updates only the row of
-- the shard it holds already.
CREATE TABLE totals (
    shard    smallint PRIMARY KEY REFERENCES shards (id),
    rooms    bigint NOT NULL DEFAULT 0,
    messages bigint NOT NULL DEFAULT 0
);
INSERT INTO totals (shard) SELECT id FROM shards;

-- A room exists once it holds a message: created by the first, counted by each.
CREATE FUNCTION chatapp_messages_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rooms (name, created_at)
        SELECT DISTINCT ON (i.room) i.room, i.ts FROM inserted i
         WHERE NOT EXISTS (SELECT 1 FROM rooms r WHERE r.name = i.room)
         ORDER BY i.room, i.id
        ON CONFLICT (name) DO NOTHING;
    UPDATE rooms r SET message_count = r.message_count + s.n, last_message_at = s.ts
      FROM (SELECT i.room, count(*) AS n, (array_agg(i.ts ORDER BY i.id DESC))[1] AS ts
              FROM inserted i GROUP BY i.room) s
     WHERE r.name = s.room;
    UPDATE totals t SET messages = t.messages + s.n
      FROM (SELECT i.shard, count(*) AS n FROM inserted i GROUP BY i.shard) s
     WHERE t.shard = s.shard;
    RETURN NULL;
END $$;

CREATE TRIGGER messages_inserted AFTER INSERT ON messages
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION chatapp_messages_inserted();

-- A deleted message no longer counts, its room's time goes back to the newest remaining
-- one, and its edits (which hold old text) and reactions go with it; a 'delete' event stays.
CREATE FUNCTION chatapp_messages_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rooms r SET message_count = r.message_count - s.n,
                       last_message_at = (SELECT max(m.ts) FROM messages m WHERE m.room = s.room)
      FROM (SELECT d.room, count(*) AS n FROM deleted d GROUP BY d.room) s
     WHERE r.name = s.room;
    UPDATE totals t SET messages = t.messages - s.n
      FROM (SELECT d.shard, count(*) AS n FROM deleted d GROUP BY d.shard) s
     WHERE t.shard = s.shard;
    DELETE FROM room_events e USING deleted d
     WHERE e.message_id = d.id AND e.kind IN ('edit', 'reactions');
    RETURN NULL;
END $$;

CREATE TRIGGER messages_deleted AFTER DELETE ON messages
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION chatapp_messages_deleted();

CREATE FUNCTION chatapp_rooms_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE totals t SET rooms = t.rooms + s.n
      FROM (SELECT i.shard, count(*) AS n FROM inserted i GROUP BY i.shard) s
     WHERE t.shard = s.shard;
    RETURN NULL;
END $$;

CREATE TRIGGER rooms_inserted AFTER INSERT ON rooms
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION chatapp_rooms_inserted();

-- ---- the room's log of changes (SQLite 0010): each event INSERT applies its change --------

-- Only the newest edit and the newest reactions of a message matter to a page catching up
-- (each carries the whole new state), so older ones are dropped as newer ones arrive.
CREATE FUNCTION chatapp_room_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'edit' THEN
        UPDATE messages SET body = NEW.data, edited_at = NEW.ts WHERE id = NEW.message_id;
        DELETE FROM room_events WHERE message_id = NEW.message_id AND kind = 'edit' AND id < NEW.id;
    ELSIF NEW.kind = 'reactions' THEN
        UPDATE messages SET reactions = NEW.data WHERE id = NEW.message_id;
        DELETE FROM room_events WHERE message_id = NEW.message_id AND kind = 'reactions' AND id < NEW.id;
    ELSIF NEW.kind = 'delete' THEN
        DELETE FROM messages WHERE id = NEW.message_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER room_events_apply AFTER INSERT ON room_events
    FOR EACH ROW EXECUTE FUNCTION chatapp_room_event();

-- ---- the audit log (SQLite 0002, 0009) ----------------------------------------------------

CREATE TABLE audit_log (
    id         bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at         text NOT NULL,
    action     text NOT NULL,
    room       text,
    message_id bigint,
    client     text NOT NULL,
    detail     text,
    actor      text                     -- NULL: the operator; else the admin member's name
);

-- ---- search (SQLite 0003) ------------------------------------------------------------------

-- Generated by chatapp.storage.postgres.fold from chatapp.textnorm (a test checks they agree).
CREATE FUNCTION chatapp_fold(body text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE
        WHEN octet_length(body) = char_length(body) THEN body  -- ASCII: nothing to fold
        WHEN body !~ '[\u00C0-\u00FF\u0100-\u017F\u0180-\u024F\u0300-\u036F\u1E00-\u1EFF]' THEN body  -- no letter of a folded block
        ELSE translate(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(body, 'Æ', 'AE'), 'Þ', 'TH'), 'ß', 'ss'), 'æ', 'ae'), 'þ', 'th'), 'Ĳ', 'IJ'), 'ĳ', 'ij'), 'Œ', 'OE'), 'œ', 'oe'), 'Ǆ', 'DZ'), 'ǅ', 'Dz'), 'ǆ', 'dz'), 'Ǉ', 'LJ'), 'ǈ', 'Lj'), 'ǉ', 'lj'), 'Ǌ', 'NJ'), 'ǋ', 'Nj'), 'ǌ', 'nj'), 'Ǳ', 'DZ'), 'ǲ', 'Dz'), 'ǳ', 'dz'), 'ẞ', 'SS'),
            'ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝàáâãäåçèéêëìíîïðñòóôõöøùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĐđĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĦħĨĩĪīĬĭĮįİıĴĵĶķĹĺĻļĽľŁłŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŦŧŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſƀƗƚƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳɌɍḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣḤḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏṐṑṒṓṔṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẛẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệỈỉỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨứỪừỬửỮữỰựỲỳỴỵỶỷỸỹ' || U&'\0300\0301\0302\0303\0304\0305\0306\0307\0308\0309\030A\030B\030C\030D\030E\030F\0310\0311\0312\0313\0314\0315\0316\0317\0318\0319\031A\031B\031C\031D\031E\031F\0320\0321\0322\0323\0324\0325\0326\0327\0328\0329\032A\032B\032C\032D\032E\032F\0330\0331\0332\0333\0334\0335\0336\0337\0338\0339\033A\033B\033C\033D\033E\033F\0340\0341\0342\0343\0344\0345\0346\0347\0348\0349\034A\034B\034C\034D\034E\0350\0351\0352\0353\0354\0355\0356\0357\0358\0359\035A\035B\035C\035D\035E\035F\0360\0361\0362\0363\0364\0365\0366\0367\0368\0369\036A\036B\036C\036D\036E\036F',
            'AAAAAACEEEEIIIIDNOOOOOOUUUUYaaaaaaceeeeiiiidnoooooouuuuyyAaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIiJjKkLlLlLlLlNnNnNnOoOoOoRrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzsbIlOoUuAaIiOoUuUuUuUuUuAaAaGgKkOoOojGgNnAaAaAaEeEeIiIiOoOoRrRrUuUuSsTtHhAaEeOoOoOoOoYyRrAaBbBbBbCcDdDdDdDdDdEeEeEeEeEeFfGgHhHhHhHhHhIiIiKkKkKkLlLlLlLlMmMmMmNnNnNnNnOoOoOoOoPpPpRrRrRrRrSsSsSsSsSsTtTtTtTtUuUuUuUuUuVvVvWwWwWwWwWwXxXxYyZzZzZzhtwysAaAaAaAaAaAaAaAaAaAaAaAaEeEeEeEeEeEeEeEeIiIiOoOoOoOoOoOoOoOoOoOoOoOoUuUuUuUuUuUuUuYyYyYyYy') END;

CREATE FUNCTION chatapp_search_text(body text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN lower(chatapp_fold(body) COLLATE "und-x-icu");

CREATE INDEX messages_search ON messages USING gin (chatapp_search_text(body) gin_trgm_ops);

-- ---- sessions (SQLite 0005) ----------------------------------------------------------------

CREATE TABLE sessions (
    id_hash      text PRIMARY KEY,      -- hex SHA-256 of the cookie's session id
    kind         text NOT NULL,
    subject      text NOT NULL,
    created_at   text NOT NULL,
    last_seen_at text NOT NULL,
    expires_at   text COLLATE "C" NOT NULL
);
CREATE INDEX sessions_subject ON sessions (kind, subject);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- ---- members, join links, private rooms, password resets (SQLite 0007, 0008, 0009) --------

CREATE TABLE members (
    id              bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name            text NOT NULL,
    name_key        text COLLATE "C" NOT NULL UNIQUE,
    password_hash   text NOT NULL,
    role            text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin')),
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deactivated')),
    created_at      text COLLATE "C" NOT NULL,
    last_seen_at    text,
    session_version integer NOT NULL DEFAULT 1
);

CREATE TABLE join_links (
    token_hash  text PRIMARY KEY,
    created_by  bigint REFERENCES members (id),  -- NULL: the operator
    created_at  text COLLATE "C" NOT NULL,
    expires_at  text COLLATE "C" NOT NULL,
    max_uses    integer NOT NULL CHECK (max_uses > 0),
    uses        integer NOT NULL DEFAULT 0,
    revoked_at  text
);

CREATE TABLE room_members (
    room      text COLLATE "C" NOT NULL,
    member_id bigint NOT NULL REFERENCES members (id),
    added_at  text NOT NULL,
    PRIMARY KEY (room, member_id)
);
CREATE INDEX room_members_by_member ON room_members (member_id, room);

-- A room's members go with it.
CREATE FUNCTION chatapp_rooms_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE totals t SET rooms = t.rooms - s.n
      FROM (SELECT d.shard, count(*) AS n FROM deleted d GROUP BY d.shard) s
     WHERE t.shard = s.shard;
    DELETE FROM room_members rm USING deleted d WHERE rm.room = d.name;
    RETURN NULL;
END $$;

CREATE TRIGGER rooms_deleted AFTER DELETE ON rooms
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION chatapp_rooms_deleted();

CREATE TABLE password_resets (
    token_hash  text PRIMARY KEY,
    member_id   bigint NOT NULL REFERENCES members (id),
    created_at  text NOT NULL,
    expires_at  text COLLATE "C" NOT NULL,
    used_at     text
);
