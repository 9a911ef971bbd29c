-- Web Push subscriptions (issue 14, notifications): where a member's browsers want to be
-- told about a mention or a direct message while no tab of chatapp is open. See chatapp/push/.

CREATE TABLE push_subscriptions (
    id           INTEGER PRIMARY KEY,
    member_id    INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    -- The push service's URL for this browser (the capability to reach it: never shown to
    -- anyone). One browser profile has one per site, so it names the row: a browser that
    -- logs in as someone else hands its subscription over.
    endpoint     TEXT NOT NULL UNIQUE,
    p256dh       TEXT NOT NULL,  -- the browser's P-256 public key, url-safe base64 (payload encryption)
    auth         TEXT NOT NULL,  -- the browser's 16-byte auth secret, url-safe base64
    -- The login it was made under (sessions.id_hash). Logging out, "log out everywhere", a
    -- password change and a deactivation delete the session rows, and with them the
    -- subscriptions: a browser is notified only while it is logged in as that member.
    session_hash TEXT NOT NULL REFERENCES sessions (id_hash) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,  -- ISO 8601 UTC, like messages.ts
    last_success TEXT,           -- the push service last took a message for it
    failures     INTEGER NOT NULL DEFAULT 0  -- deliveries given up on since the last success
);

CREATE INDEX push_subscriptions_member ON push_subscriptions (member_id);
-- For the cascade: deleting a session finds its subscriptions through this index.
CREATE INDEX push_subscriptions_session ON push_subscriptions (session_hash);

-- A deactivated member's subscriptions go on every path that deactivates (the admin's page,
-- a script on the database), not only the ones that remember to.
CREATE TRIGGER push_dropped_on_deactivation AFTER UPDATE OF status ON members
WHEN NEW.status = 'deactivated'
BEGIN
    DELETE FROM push_subscriptions WHERE member_id = NEW.id;
END;
