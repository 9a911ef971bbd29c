"""The SQLite backend: one database file, the default and the fastest way to run chatapp."""

from __future__ import annotations

from .admin import AdminMixin
from .archive import ArchiveMixin
from .attention import AttentionMixin
from .bots import BotsMixin
from .cluster import ClusterMixin
from .files import FilesMixin
from .member_admin import MemberAdminMixin
from .members import MembersMixin
from .messages import MessagesMixin
from .private import PrivateRoomsMixin
from .push import PushMixin
from .rooms import RoomsMixin
from .search import SearchMixin
from .sessions import SessionsMixin


class SQLiteStorage(MessagesMixin, RoomsMixin, AdminMixin, SearchMixin, ArchiveMixin, SessionsMixin,
                    MembersMixin, MemberAdminMixin, PrivateRoomsMixin, BotsMixin, FilesMixin, PushMixin,
                    AttentionMixin, ClusterMixin):
    """:class:`chatapp.storage.Storage` on SQLite; open it with :meth:`open`."""


__all__ = ["SQLiteStorage"]
