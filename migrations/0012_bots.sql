-- Bots (issue 15): accounts of their own kind that post through the HTTP API with a token,
-- and may have a webhook that is called when they are mentioned. See chatapp/bots/.

CREATE TABLE bots (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: messages.bot_id names it
    name             TEXT NOT NULL,                      -- as made, what pages show
    -- Folded like a member's name (chatapp/accounts/names.py), and unique across members and
    -- bots alike (the triggers below), so neither can pose as the other.
    name_key         TEXT NOT NULL UNIQUE,
    -- The hex SHA-256 of the token's secret part (a token is "cab_<id>_<secret>"): the
    -- secret is 32 random bytes, so a fast hash is enough (there is nothing to guess), and
    -- the token itself is shown once and never stored.
    token_hash       TEXT NOT NULL,
    created_at       TEXT NOT NULL,                      -- ISO 8601 UTC, like messages.ts
    rotated_at       TEXT,                               -- the token was last replaced
    revoked_at       TEXT,                               -- NULL: the token works
    -- 1: the bot may use only the rooms in bot_rooms (none at all while that is empty);
    -- 0: every public room. A flag of its own, so changing the list one statement at a time
    -- never passes through "empty, so unlimited".
    limited          INTEGER NOT NULL DEFAULT 0 CHECK (limited IN (0, 1)),
    webhook_url      TEXT,                               -- NULL: no webhook
    webhook_secret   TEXT,                               -- the HMAC key deliveries are signed with
    failures         INTEGER NOT NULL DEFAULT 0,         -- deliveries given up on, ever
    last_error       TEXT,
    last_error_at    TEXT,
    last_delivery_at TEXT                                -- the last delivery the webhook took
);

-- The rooms a limited bot may post in and hear mentions from. Names need not be stored rooms
-- yet; a private room is open to a bot only when it is listed here.
CREATE TABLE bot_rooms (
    bot_id INTEGER NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    room   TEXT NOT NULL,
    PRIMARY KEY (bot_id, room)
) WITHOUT ROWID;

-- One name space for members and bots: an insert of either under the other's folded name is
-- skipped (RAISE(IGNORE)), so "INSERT ... RETURNING" returns nothing, as for a taken name.
CREATE TRIGGER bots_not_members BEFORE INSERT ON bots
WHEN EXISTS (SELECT 1 FROM members WHERE name_key = NEW.name_key)
BEGIN
    SELECT RAISE(IGNORE);
END;

CREATE TRIGGER members_not_bots BEFORE INSERT ON members
WHEN EXISTS (SELECT 1 FROM bots WHERE name_key = NEW.name_key)
BEGIN
    SELECT RAISE(IGNORE);
END;
