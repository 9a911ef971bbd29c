-- Each message's HTML, rendered once when it is stored (and again when it is edited) by
-- chatapp/formatting.py, so no page, API or search result renders Markdown on the way out:
-- a room of hostile 4,000-character messages costs its sender, once, not every reader.
-- NULL (messages stored before this, imported ones, one whose edit is being written):
-- rendered on reading instead.
ALTER TABLE messages ADD COLUMN html TEXT;

-- A body changed without its HTML (an edit, applied by the room_events trigger): the old
-- HTML must never show the old text, so it goes until the new one is written.
CREATE TRIGGER messages_html_stale AFTER UPDATE OF body ON messages WHEN NEW.html IS OLD.html BEGIN
    UPDATE messages SET html = NULL WHERE id = NEW.id;
END;
