"""Notification levels: how much each room may tell each member, kept in memory.

A member chooses per room: ``all`` (every message), ``mentions`` (mentions of them, and
@here) or ``nothing``. Unchosen, a DM is ``all`` and any other room ``mentions``, so most
rooms cost nothing here: only levels people chose are held (loaded once at start, then
changed with each choice), and the publish path asks with two dict lookups.
"""

from __future__ import annotations

LEVELS = ("all", "mentions", "nothing")


def default_level(visibility: str) -> str:
    """A DM tells its two people about every message; any other room only about mentions."""
    return "all" if visibility == "dm" else "mentions"


class Levels:
    """The levels members chose, by room; unchosen ones are the room's default."""

    def __init__(self) -> None:
        self._chosen: dict[str, dict[int, str]] = {}  # room -> member id -> level

    def load(self, rows: list[tuple[int, str, str]]) -> None:
        for member_id, room, level in rows:
            self.choose(member_id, room, level)

    def choose(self, member_id: int, room: str, level: str | None) -> None:
        """Record a choice; None goes back to the default."""
        if level is None:
            chosen = self._chosen.get(room)
            if chosen is not None:
                chosen.pop(member_id, None)
                if not chosen:
                    del self._chosen[room]
            return
        if level not in LEVELS:
            raise ValueError(f"no such level: {level}")
        self._chosen.setdefault(room, {})[member_id] = level

    def chosen(self, member_id: int, room: str) -> str | None:
        return self._chosen.get(room, {}).get(member_id)

    def level(self, member_id: int, room: str, visibility: str) -> str:
        return self.chosen(member_id, room) or default_level(visibility)

    def everything_in(self, room: str) -> set[int]:
        """Members who chose to hear about every message of ``room``."""
        return {m for m, level in self._chosen.get(room, {}).items() if level == "all"}

    def keep_only(self, room: str, member_ids: set[int]) -> None:
        """``room`` is private and these are its members now: the others' choices go."""
        chosen = self._chosen.get(room)
        if chosen is None:
            return
        for member_id in [m for m in chosen if m not in member_ids]:
            del chosen[member_id]
        if not chosen:
            del self._chosen[room]

    def forget_room(self, room: str) -> None:
        self._chosen.pop(room, None)
