"""The PostgreSQL backend: several chatapp processes on one database (issue 16).

:class:`PostgresStorage` implements :class:`chatapp.storage.Storage` with the same behaviour
as the SQLite backend, one mixin per concern as :mod:`chatapp.storage.sqlite` has, plus the
ordering point (:mod:`.ordering`) and the log-following interface nodes use (:mod:`.cluster`).
Open it with :meth:`PostgresStorage.open`, or :func:`chatapp.storage.open_storage` with a
``postgresql://`` URL.
"""

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
from .node_events import NodeEventsMixin
from .ordering import SHARDS, shard_of
from .private import PrivateRoomsMixin
from .push import PushMixin
from .rooms import RoomsMixin
from .search import SearchMixin
from .sessions import SessionsMixin


class PostgresStorage(MessagesMixin, RoomsMixin, AdminMixin, SearchMixin, ArchiveMixin, SessionsMixin,
                      MembersMixin, MemberAdminMixin, PrivateRoomsMixin, BotsMixin, FilesMixin, PushMixin,
                      AttentionMixin, ClusterMixin, NodeEventsMixin):
    """:class:`chatapp.storage.Storage` on PostgreSQL; open it with :meth:`open`.

    ``PostgresStorage.open(url, shard_lock=False)`` turns the ordering point off; it exists
    only for the test that shows a follower skipping rows without it. Never in production.
    """


__all__ = ["SHARDS", "PostgresStorage", "shard_of"]
