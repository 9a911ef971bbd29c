-- Member administration (chatapp/admin/members.py, `chatapp users reset`).

-- One-time password-reset links. The token is in the link; this table keeps only its
-- SHA-256, like join_links.token_hash, so a backup holds no usable link.
CREATE TABLE password_resets (
    token_hash  TEXT PRIMARY KEY,
    member_id   INTEGER NOT NULL REFERENCES members (id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT                  -- set by the one use; the link is dead after it
) WITHOUT ROWID;

-- Who did an audited action: NULL for the operator (CHATAPP_ADMIN_PASSWORD), else the
-- name of the admin member, as it was then.
ALTER TABLE audit_log ADD COLUMN actor TEXT;
