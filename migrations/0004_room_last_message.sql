-- A deleted message no longer leaves its room's last_message_at behind: the delete
-- trigger looks up the newest remaining time through the (room, ts, user) index, so it
-- stays one index probe per row however large the room.
DROP TRIGGER messages_count_delete;

CREATE TRIGGER messages_count_delete AFTER DELETE ON messages BEGIN
    UPDATE rooms SET message_count = message_count - 1,
                     last_message_at = (SELECT max(ts) FROM messages WHERE room = OLD.room)
     WHERE name = OLD.room;
END;

-- Rooms that already had messages deleted get their time put right now.
UPDATE rooms SET last_message_at = (SELECT max(ts) FROM messages WHERE messages.room = rooms.name)
 WHERE message_count > 0;
