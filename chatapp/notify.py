"""Who should be told about a message: the one call between the code that decides (mentions,
DMs, room levels: chatapp.attention) and the code that tells (Web Push: chatapp.push).

The app holds one :class:`Notifier` under ``keys.NOTIFY``. Its :meth:`~Notifier.notify` is
called in the chat writer's publish path, after each batch, so it must only enqueue: no
awaiting, no I/O, nothing that can raise. :class:`NoNotifier` is the default until
something real is installed.
"""

from __future__ import annotations

from typing import Literal, Protocol

from .models import Message

# Why the members are told: they were mentioned, it is a DM to them, @here reached them,
# or their level for the room is "all".
Reason = Literal["mention", "dm", "here", "message"]
REASONS: frozenset[str] = frozenset({"mention", "dm", "here", "message"})


class Notifier(Protocol):
    def notify(self, room: str, message: Message, member_ids: set[int], reason: str) -> None:
        """Tell these members about ``message`` of ``room`` (enqueue only; never raises)."""
        ...


class NoNotifier:
    """Tells nobody."""

    def notify(self, room: str, message: Message, member_ids: set[int], reason: str) -> None:
        return None
