-- Sessions kept on the server, so that logging out ends a session wherever its cookie
-- was copied. The cookie carries a random id; this table holds only its SHA-256, so a
-- copy of the database (a backup, say) holds nothing a cookie could be made from.
-- A session ends when its row is deleted: at logout, "log out everywhere", a new
-- login in the same browser, or once it has expired.
CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,      -- hex SHA-256 of the cookie's session id
    kind         TEXT NOT NULL,         -- who: 'operator' (the accounts issue adds 'member')
    subject      TEXT NOT NULL,         -- which one of that kind: '' for the one operator
    created_at   TEXT NOT NULL,         -- ISO 8601 UTC, like messages.ts
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL          -- refused from then on; deleted at a later login
) WITHOUT ROWID;

-- "Log out everywhere" deletes every session of one person; expiry sweeps by time.
CREATE INDEX sessions_subject ON sessions (kind, subject);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
