-- Node events (chatapp/cluster/node.py): changes to what every chatapp node keeps in memory,
-- written to the log of their room so each node applies them at their place among the
-- messages, after everything committed before them: a room locked or unlocked, deleted, or
-- made private (data: 'private' or 'dm'), a member removed from a private room, and, under
-- the room '' (a shard like any other), a member deactivated or logged out everywhere (data:
-- the member's id). Pages are never sent them (log_after leaves them out); nodes read them
-- with everything else in log_after_shard.
ALTER TABLE room_events DROP CONSTRAINT room_events_kind_check;
ALTER TABLE room_events ADD CONSTRAINT room_events_kind_check CHECK (kind IN (
    'edit', 'delete', 'reactions', 'clear',
    'room_locked', 'room_unlocked', 'room_deleted', 'room_private',
    'member_removed', 'member_deactivated', 'sessions_ended'));
