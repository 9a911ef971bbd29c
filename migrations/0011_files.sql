-- Files attached to messages (chatapp/files.py). The bytes live in the database, so the
-- one-file backup (`chatapp backup`) holds them with everything else.
--
-- A file is stored first, with message_id NULL; the message that carries its description
-- (messages.attachment, JSON with the file's "id") links it as it is inserted, by the
-- trigger below, in the same statement. A file is served only once it is linked, and goes
-- when its message goes: deleted by its sender or an admin, cleared with its room, or
-- dropped by retention. One whose message was never stored (refused, or a crash between
-- the two writes) is removed at once by the upload, or by retention's next pass after an hour.
CREATE TABLE files (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a file URL never changes content
    room       TEXT NOT NULL,
    message_id INTEGER,                  -- NULL until its message is stored
    member_id  INTEGER,                  -- who uploaded it
    name       TEXT NOT NULL,            -- cleaned: no path, no control or bidi characters
    mime       TEXT NOT NULL,            -- sniffed from the bytes, never the client's claim
    size       INTEGER NOT NULL,         -- bytes as served
    created_at TEXT NOT NULL,
    thumb_mime TEXT,                     -- NULL: not an image, no thumbnail
    -- The blobs come last, the small one first: reading a row's other columns, or its
    -- thumbnail, never walks the full file's overflow pages.
    thumb      BLOB,
    data       BLOB NOT NULL
);
CREATE INDEX files_message ON files (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX files_unlinked ON files (created_at) WHERE message_id IS NULL;

CREATE TRIGGER files_link AFTER INSERT ON messages WHEN NEW.attachment IS NOT NULL BEGIN
    UPDATE files SET message_id = NEW.id
        WHERE id = json_extract(NEW.attachment, '$.id') AND room = NEW.room AND message_id IS NULL;
END;

CREATE TRIGGER files_message_delete AFTER DELETE ON messages WHEN OLD.attachment IS NOT NULL BEGIN
    DELETE FROM files WHERE message_id = OLD.id;
END;
