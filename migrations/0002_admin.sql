-- The admin's audit log: one row per operator action, kept forever (it is small).
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,           -- ISO 8601 UTC, like messages.ts
    action     TEXT NOT NULL,           -- login, logout, delete_message, lock, unlock, ...
    room       TEXT,
    message_id INTEGER,
    client     TEXT NOT NULL,           -- the operator's address (after trusted proxies)
    detail     TEXT                     -- e.g. how many messages a clear removed
);

-- The admin's "distinct names in the last 24 hours" reads only this index (it covers
-- room, ts and user), and deleting messages by age uses its (room, ts) prefix.
CREATE INDEX messages_room_ts_user ON messages (room, ts, user);
