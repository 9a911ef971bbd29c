-- Each message's HTML, rendered once when it is stored and again when it is edited (SQLite:
-- migrations/0015_message_html.sql; chatapp/formatting.py). NULL: rendered on reading.
ALTER TABLE messages ADD COLUMN html text;

-- A body changed without its HTML (an edit, applied by the room_events trigger): the old HTML
-- must never show the old text, so it goes until the new one is written.
CREATE FUNCTION chatapp_messages_html_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.html := NULL;
    RETURN NEW;
END $$;

CREATE TRIGGER messages_html_stale BEFORE UPDATE OF body ON messages
    FOR EACH ROW WHEN (NEW.html IS NOT DISTINCT FROM OLD.html) EXECUTE FUNCTION chatapp_messages_html_stale();
