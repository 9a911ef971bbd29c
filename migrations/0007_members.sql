-- Members: people with an account (a name and a password), as opposed to guests, who pick
-- any free name each visit. See chatapp/accounts/.

CREATE TABLE members (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: sessions and messages name it
    name            TEXT NOT NULL,                      -- as typed (NFKC-normalised), what pages show
    -- The name folded for uniqueness: NFKC, case folding and Unicode's confusable skeleton,
    -- so "alice", "ALICE" and "аlice" (Cyrillic а) are one name (chatapp/accounts/names.py).
    name_key        TEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL,                      -- argon2id, in its PHC string form
    role            TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin')),
    status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deactivated')),
    created_at      TEXT NOT NULL,                      -- ISO 8601 UTC, like messages.ts
    last_seen_at    TEXT,
    -- Raised by "log out everywhere", a password change or deactivation; a session made
    -- under an older version is refused even if its record somehow survived.
    session_version INTEGER NOT NULL DEFAULT 1
);

-- Join links: how people sign up when CHATAPP_SIGNUP=invite. The token is in the link; this
-- table keeps only its SHA-256, like sessions.id_hash.
CREATE TABLE join_links (
    token_hash  TEXT PRIMARY KEY,
    created_by  INTEGER REFERENCES members (id),  -- NULL: the operator
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    max_uses    INTEGER NOT NULL CHECK (max_uses > 0),
    uses        INTEGER NOT NULL DEFAULT 0,
    revoked_at  TEXT
) WITHOUT ROWID;

-- Who sent a message: a member's id, or NULL for a guest (then only the name is known).
-- No foreign key: a message outlives nothing it names, and history stays as it was.
ALTER TABLE messages ADD COLUMN member_id INTEGER;
