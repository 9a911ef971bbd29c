"""The SQLite backend: one database file, the default and the fastest way to run chatapp."""

from __future__ import annotations

from .admin import AdminMixin
from .archive import ArchiveMixin
from .messages import MessagesMixin
from .search import SearchMixin
from .sessions import SessionsMixin


class SQLiteStorage(MessagesMixin, AdminMixin, SearchMixin, ArchiveMixin, SessionsMixin):
    """:class:`chatapp.storage.Storage` on SQLite; open it with :meth:`open`."""


__all__ = ["SQLiteStorage"]
