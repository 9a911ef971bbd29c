"""The storage interface: every question the app asks its database, typed, backend-neutral.

:class:`Storage` is the one way to the database (Datasette's ``Database`` is the model).
The SQLite backend (:mod:`chatapp.storage.sqlite`) implements it, and the PostgreSQL backend
(:mod:`chatapp.storage.postgres`) the same. Nothing outside ``chatapp/storage/`` runs SQL, holds a
connection or imports a driver: it calls these methods and catches the errors of
:mod:`chatapp.storage.records`, where the records they return are declared too.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from ..models import Message, RoomEvent, RoomSummary
from .records import (
    AuditEntry,
    BackupReport,
    Bot,
    FileInfo,
    Hit,
    JoinLink,
    Member,
    MemberRoom,
    MentionHit,
    MentionWanted,
    NewRow,
    PushSubscription,
    RoomStats,
    SessionRecord,
    SidebarRoom,
)


class Storage(Protocol):
    """What the app needs from a database. Every method is safe to call concurrently."""

    # ---- lifecycle ----
    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    async def size_bytes(self) -> int: ...
    async def free_bytes(self) -> int | None:
        """Free space where the data lives; None when the backend cannot tell."""
        ...

    # ---- messages ----
    async def insert_messages(self, rows: Sequence[NewRow]) -> list[Message]:
        """Insert in one transaction, skipping (room, client_id) already stored; the rows
        inserted, by id (which is ``rows`` order)."""
        ...

    async def by_client_ids(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Message]:
        """Stored messages for (room, client_id) pairs, as the writer sees them (read-your-writes)."""
        ...

    async def recent(self, room: str, limit: int) -> list[Message]: ...
    async def before(self, room: str, before: int, limit: int) -> tuple[list[Message], bool]: ...
    async def after(self, room: str, after: int, limit: int) -> tuple[list[Message], bool]: ...
    async def count_after(self, room: str, after: int, limit: int) -> int:
        """How many messages have id > after, counting no further than ``limit``."""
        ...
    async def around(self, room: str, at: int, limit: int) -> list[Message]: ...
    async def message(self, room: str, message_id: int) -> Message | None: ...
    async def ids_in_room(self, room: str, ids: Iterable[int]) -> set[int]:
        """Which of ``ids`` are messages of ``room`` (as the writer sees them)."""
        ...

    # ---- the room's log of changes: each returns the logged event, None if the message is gone
    async def edit_message(self, room: str, message_id: int, body: str, ts: str, html: str) -> RoomEvent | None: ...
    async def set_reactions(self, room: str, message_id: int, reactions: str | None, ts: str) -> RoomEvent | None:
        """Store a message's whole reactions (JSON {"emoji": [names]}, None for none)."""
        ...
    async def log_clear(self, room: str, ts: str) -> RoomEvent: ...
    async def log_after(self, room: str, after: int, limit: int) -> tuple[list[Message | RoomEvent], bool]:
        """Messages and changes with id > after, in id order (one sequence), and whether more follow."""
        ...

    # ---- rooms ----
    async def room_page(self, query: str, after: str | None, limit: int) -> tuple[list[RoomSummary], str | None]:
        """One page of the public room list and the next page's cursor (None at the end); BadCursor.

        ``query`` empty: latest activity first. Otherwise rooms whose name holds it (a
        lower-case room name fragment): a short one matches name prefixes, by name.
        Each page is an index seek: its cost does not grow with the number of rooms."""
        ...
    async def rooms_named(self, names: Iterable[str]) -> list[RoomSummary]:
        """The stored rooms among ``names`` (a page's worth: one index probe each)."""
        ...
    async def existing_rooms(self, names: Iterable[str]) -> set[str]:
        """Which of ``names`` are stored rooms (read-your-writes, for the chat writer)."""
        ...
    async def totals(self) -> tuple[int, int]:
        """How many rooms and messages are stored, without counting them."""
        ...
    async def quiet_rooms(self, since: str, max_messages: int, limit: int) -> list[str]:
        """Up to ``limit`` rooms last active at or after ``since`` with at most
        ``max_messages`` messages, latest first (the admin's bulk delete)."""
        ...
    async def room(self, name: str) -> RoomSummary | None: ...
    async def locked_rooms(self) -> set[str]: ...
    async def set_locked(self, room: str, locked: bool) -> None: ...
    async def set_retention(self, room: str, days: int | None) -> None: ...
    async def delete_message(self, room: str, message_id: int, ts: str | None = None) -> RoomEvent | None: ...
    async def delete_some(self, room: str, limit: int) -> int:
        """Delete up to ``limit`` of the room's oldest messages; how many went."""
        ...
    async def delete_room_row(self, room: str) -> None: ...

    # ---- admin figures and the audit log ----
    async def room_stats_page(self, since: str, query: str, after: str | None,
                              limit: int) -> tuple[list[RoomStats], str | None]:
        """:meth:`room_page` with the admin's figures, private rooms and DMs included;
        ``since`` bounds the names count."""
        ...
    async def room_stat(self, room: str, since: str) -> RoomStats | None: ...
    async def record_audit(self, action: str, client: str, *, room: str | None = None,
                           message_id: int | None = None, detail: str | None = None,
                           actor: str | None = None) -> None: ...
    async def audit_entries(self, before: int | None, limit: int) -> tuple[list[AuditEntry], bool]: ...

    # ---- search, export, import, retention, backup ----
    async def search(self, folded: str, room: str | None, user: str | None, limit: int,
                     viewer: int | None = None, see_private: bool = False) -> list[Hit]:
        """Messages whose folded text contains ``folded``, newest first; Busy or TooSlow.

        Only from rooms ``viewer`` (a member id; None: a guest) may see: public rooms, the
        private rooms and DMs they are in, and every private room if ``see_private``."""
        ...

    def export(self, room: str) -> AsyncGenerator[list[Message], None]:
        """The room's history, oldest first, a page at a time (a lane slot held throughout)."""
        ...

    async def import_rows(self, rows: Sequence[NewRow]) -> int:
        """Insert old messages keeping their ``ts``; how many were new."""
        ...

    async def retention_rooms(self) -> list[tuple[str, int]]: ...
    async def delete_older(self, room: str, cutoff: str, limit: int) -> int: ...
    async def backup(self, dest: Path, *, force: bool = False) -> BackupReport: ...

    # ---- sessions: revocable on the server (see chatapp.sessions) ----
    # Sessions are found by ``id_hash``, the hex SHA-256 of the id the cookie carries;
    # the id itself is never given to storage. Times are ISO 8601 UTC text (``iso_utc``).
    async def create_session(self, id_hash: str, kind: str, subject: str, now: str,
                             expires_at: str) -> None: ...
    async def live_session(self, id_hash: str, now: str) -> SessionRecord | None:
        """The session if it exists and has not expired at ``now``; one indexed read."""
        ...
    async def live_session_member(self, id_hash: str, now: str) -> tuple[SessionRecord, Member | None] | None:
        """:meth:`live_session`, with the member it belongs to if it is a member's (kind
        ``member``, subject the member's id in digits) and that member exists: one read,
        where a member's every page would cost two."""
        ...
    async def touch_session(self, id_hash: str, now: str, expires_at: str) -> None:
        """Record a use of the session and move its expiry."""
        ...
    async def delete_session(self, id_hash: str) -> bool:
        """End one session; False if it was already gone."""
        ...
    async def delete_sessions_of(self, kind: str, subject: str) -> int:
        """End every session of one operator or member ("log out everywhere"); how many."""
        ...
    async def delete_expired_sessions(self, now: str) -> int: ...

    # ---- members and join links (see chatapp.accounts) ----
    async def create_member(self, name: str, name_key: str, password_hash: str, now: str,
                            role: str = "member") -> Member | None:
        """The new member, or None when ``name_key`` is taken."""
        ...
    async def member(self, member_id: int) -> Member | None: ...
    async def member_login(self, name_key: str) -> tuple[Member, str] | None:
        """The member with that folded name and their password hash, for checking a login."""
        ...
    async def member_name_keys(self, after_id: int = 0) -> list[tuple[int, str]]:
        """(id, folded name) of every member with an id above ``after_id``, by id: the guard
        that keeps guests off members' names loads them all once, then only new ones."""
        ...
    async def set_password_hash(self, member_id: int, password_hash: str) -> None:
        """Replace the hash (a rehash at login: sessions are left alone)."""
        ...
    async def bump_session_version(self, member_id: int) -> int:
        """End every session of the member's (see chatapp.accounts.members); the new version."""
        ...
    async def member_seen(self, member_id: int, now: str) -> None: ...
    async def create_join_link(self, token_hash: str, now: str, expires_at: str, max_uses: int,
                               created_by: int | None = None) -> None: ...
    async def join_link_usable(self, token_hash: str, now: str) -> bool: ...
    async def use_join_link(self, token_hash: str, now: str) -> bool:
        """Count one use, if the link is still usable at ``now``; whether it was."""
        ...
    async def unuse_join_link(self, token_hash: str) -> None:
        """Give back a use counted for a signup that then failed."""
        ...
    async def revoke_join_link(self, token_hash: str, now: str) -> bool: ...

    # ---- member administration (see chatapp.admin.members; SQLite: sqlite/member_admin.py) ----
    async def members_page(self, name_part: str, before: int | None,
                           limit: int) -> tuple[list[Member], int | None]:
        """Members newest first, with id < ``before``, whose folded name contains
        ``name_part`` ("" for all); and the next page's ``before`` (None at the end)."""
        ...
    async def set_member_status(self, member_id: int, status: str) -> Member | None: ...
    async def set_member_role(self, member_id: int, role: str) -> Member | None: ...
    async def join_links(self, limit: int) -> list[JoinLink]:
        """The newest ``limit`` join links, with their use counts."""
        ...
    async def create_password_reset(self, token_hash: str, member_id: int, now: str, expires_at: str) -> None: ...
    async def password_reset_member(self, token_hash: str, now: str) -> Member | None:
        """The active member an unused, unexpired reset link is for."""
        ...
    async def use_password_reset(self, token_hash: str, now: str) -> int | None:
        """Spend the link, if still usable at ``now``; the member id it was for."""
        ...

    # ---- private rooms and direct messages (see chatapp.privacy; SQLite: sqlite/private.py) ----
    # A room's visibility is "public", "private" or "dm"; only the last two have members.
    async def non_public_rooms(self) -> dict[str, str]:
        """Every private room and DM, with its visibility (the server keeps these in memory)."""
        ...
    async def create_room(self, name: str, visibility: str, now: str, member_ids: Sequence[int]) -> str:
        """Create a private room or DM with these members: "created", or the visibility of
        the room already stored under ``name`` (which is left as it is)."""
        ...
    async def room_access(self, room: str, member_id: int) -> tuple[str, bool] | None:
        """The room's visibility and whether the member is in it; None if no such room.
        One indexed read."""
        ...
    async def room_members(self, room: str) -> list[Member]: ...
    async def add_room_member(self, room: str, member_id: int, now: str) -> bool:
        """Add to a private room (never a DM or a public room); whether they were added."""
        ...
    async def remove_room_member(self, room: str, member_id: int) -> bool: ...
    async def member_rooms(self, member_id: int, limit: int) -> list[MemberRoom]:
        """The member's private rooms and DMs, latest activity first."""
        ...
    async def member_by_key(self, name_key: str) -> Member | None:
        """The member with that folded name (chatapp.accounts.names.fold)."""
        ...

    # ---- bots (see chatapp.bots; SQLite: sqlite/bots.py) ----
    async def create_bot(self, name: str, name_key: str, token_hash: str, now: str, rooms: Sequence[str] | None,
                         webhook_url: str | None, webhook_secret: str | None) -> Bot | None:
        """The new bot (limited to ``rooms`` unless None), or None when ``name_key`` is a
        bot's or a member's."""
        ...
    async def bot(self, bot_id: int) -> Bot | None: ...
    async def bot_by_key(self, name_key: str) -> Bot | None: ...
    async def bot_auth(self, bot_id: int) -> tuple[Bot, str] | None:
        """The bot and its token's hash, for checking a token; one indexed read."""
        ...
    async def bots(self) -> list[Bot]:
        """Every bot, revoked ones included, by name."""
        ...
    async def set_bot_token(self, bot_id: int, token_hash: str, now: str) -> bool:
        """A new token (the old one stops working; a revoked bot works again)."""
        ...
    async def revoke_bot(self, bot_id: int, now: str) -> bool:
        """Stop its token working; False if it was revoked already."""
        ...
    async def set_bot_rooms(self, bot_id: int, rooms: Sequence[str] | None) -> None:
        """Limit the bot to ``rooms`` (None: every public room); never wider in between."""
        ...
    async def set_bot_webhook(self, bot_id: int, url: str | None, secret: str | None) -> None: ...
    async def record_delivery(self, bot_id: int, now: str, error: str | None) -> None:
        """A webhook delivery's outcome: taken (``error`` None) or given up on."""
        ...

    # ---- files (see chatapp.files; SQLite: sqlite/files.py) ----
    # A file is stored unlinked; the message whose attachment names it links it as it is
    # inserted, and deleting the message deletes the file.
    async def store_file(self, room: str, member_id: int | None, name: str, mime: str, data: bytes,
                         thumb: bytes | None, thumb_mime: str | None, now: str) -> int:
        """Store a file not yet linked to a message; its id."""
        ...
    async def file_info(self, file_id: int) -> FileInfo | None:
        """A linked file's description and room (None if unlinked or gone); no bytes read."""
        ...
    async def file_data(self, file_id: int, thumb: bool = False) -> bytes | None:
        """A linked file's bytes, or its thumbnail's (None when it has none)."""
        ...
    async def delete_unlinked_file(self, file_id: int) -> bool:
        """Delete a file its message never claimed (the message was refused)."""
        ...
    async def delete_unlinked_files(self, before: str) -> int:
        """Delete files created before ``before`` that no message claimed; how many."""
        ...

    # ---- push (see chatapp.push; SQLite: sqlite/push.py) ----
    # A subscription belongs to a member and to the login (``session_hash``, as in sessions)
    # it was made under: it goes when that session does, and when the member is deactivated.
    async def save_push_subscription(self, member_id: int, session_hash: str, endpoint: str, p256dh: str,
                                     auth: str, now: str, keep: int) -> None:
        """Store a browser's subscription, or hand the one with that endpoint over to this
        member and login; then keep only the member's ``keep`` newest ones. RowRejected
        if the session is gone."""
        ...
    async def delete_push_subscription(self, member_id: int, endpoint: str) -> bool:
        """Delete one of the member's own subscriptions; whether it was theirs and there."""
        ...
    async def push_subscriptions(self, member_ids: Iterable[int], now: str) -> list[PushSubscription]:
        """The subscriptions of those members that are active, made under a login still live at ``now``."""
        ...
    async def push_delivered(self, subscription_id: int, now: str) -> None:
        """The push service took a message for it: its failures start again from 0."""
        ...
    async def push_failed(self, subscription_id: int, drop_after: int) -> bool:
        """Count one delivery given up on; past ``drop_after`` in a row the subscription is
        deleted (True)."""
        ...
    async def drop_push_subscription(self, subscription_id: int) -> None:
        """The push service says it no longer exists (404, 410)."""
        ...

    # ---- attention: sidebars, read positions, notification levels, mentions (see
    # chatapp.attention; SQLite: sqlite/attention.py). A private room or DM is in a sidebar,
    # counted, listed or notified about only while the member is in it.
    async def sidebar(self, member_id: int, limit: int, count_limit: int) -> list[SidebarRoom]:
        """The member's sidebar, latest activity first, at most ``limit`` rooms, with unread and
        mention counts each counted up to ``count_limit``: ONE query, however many rooms."""
        ...
    async def join_sidebar(self, member_id: int, room: str, now: str) -> bool:
        """Put a room in the member's sidebar, read up to its newest message; False if it was there."""
        ...
    async def leave_sidebar(self, member_id: int, room: str) -> bool:
        """Take a public room out of the member's sidebar (private rooms and DMs stay)."""
        ...
    async def save_read_positions(self, positions: Sequence[tuple[int, str, int]]) -> None:
        """(member id, room, last read id) rows, one statement for the lot; a position only moves
        forward, and only rooms still in the member's sidebar are touched."""
        ...
    async def read_position(self, member_id: int, room: str) -> int: ...
    async def notification_level(self, member_id: int, room: str) -> str:
        """"all", "mentions" or "nothing": chosen, else the room's default ("all" for a DM,
        "mentions" otherwise); "nothing" in a room the member may not see."""
        ...
    async def notification_levels(self, room: str, member_ids: Iterable[int]) -> dict[int, str]:
        """:meth:`notification_level` for many members of one room, in one query."""
        ...
    async def set_notification_level(self, member_id: int, room: str, level: str | None, now: str) -> None:
        """Choose a level (None: back to the default); the room joins the sidebar if it was not in it."""
        ...
    async def chosen_levels(self) -> list[tuple[int, str, str]]:
        """(member id, room, level) of every level someone chose (the server keeps them in memory)."""
        ...
    async def record_mentions(self, wanted: Sequence[MentionWanted]) -> list[tuple[int, str, int]]:
        """Store a batch's mentions in one write; (member id, room, message id) of those stored:
        active members only, never the sender, and in a private room or DM only its members."""
        ...
    async def mentions_page(self, member_id: int, before: int | None, limit: int) -> tuple[list[MentionHit], bool]:
        """The member's mentions newest first, with message id < ``before``; and whether older ones follow."""
        ...
    async def watch_counts(self, rooms: Mapping[str, int], count_limit: int) -> dict[str, tuple[int, int]]:
        """For a guest's rooms {room: last read id}: (unread up to ``count_limit``, newest id) of
        each public one (a DM or private room is left out, as if it did not exist); one query."""
        ...
    async def newest_id(self) -> int:
        """The newest id the message and event sequence has handed out."""
        ...
    async def room_member_ids(self, room: str) -> set[int]:
        """The ids of a private room's or DM's members (none for a public room)."""
        ...

    # ---- cluster: following the log from several processes (see chatapp.cluster; PostgreSQL:
    # postgres/cluster.py and postgres/ordering.py). Every room is in one of ``shards``
    # shards; within a shard, rows (messages and room events) commit in id order, so reading
    # ``id > cursor`` a shard at a time never skips one. SQLite has one shard and one process.
    shards: int

    def shard_of(self, room: str) -> int:
        """The shard of ``room``'s messages and events (a stable hash; never changes)."""
        ...
    async def log_after_shard(self, shard: int, after: int, limit: int) -> list[Message | RoomEvent]:
        """The shard's messages and room events with id > ``after``, in id order, at most
        ``limit``, messages with their reply quotes filled as :meth:`after` fills them."""
        ...
    async def shard_heads(self) -> dict[int, int]:
        """The newest id of each shard (0 when empty): a node's starting cursors."""
        ...
    async def listen_log(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(shard)`` whenever another process commits to a shard (PostgreSQL:
        LISTEN chatapp_log on a connection of its own, made again after it drops, and then
        ``callback`` for every shard); returns once listening. SQLite: nothing to listen to."""
        ...
    async def unlisten_log(self) -> None: ...
