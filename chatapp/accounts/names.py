"""Whose a name is: folding names for uniqueness, and the set of names members own.

Two names are the same name when their *keys* are equal. The key is the name NFKC-normalised
(full-width and other compatibility forms), case-folded, mapped to Unicode's confusable
skeleton (UTS #39: Cyrillic ``\u0430`` and Latin ``a`` are one letter there), and case-folded
again, so ``alice``, ``Alice``, ``ALICE`` and ``\u0430lice`` share one key. The confusables table
is Unicode's ``confusables.txt`` as the ``confusable_homoglyphs`` package ships it (the one
django-registration uses to vet usernames); it lists, for each character, the characters
it can be taken for. We join those lists into classes of mutually confusable characters
and map each character to its class's lowest code point: a skeleton that errs towards
calling two names the same, which is the safe side for "a name is its owner's".
Multi-character confusables (``rn`` for ``m``) are not folded.

:class:`MemberNames` holds every member's key in memory, so checking a guest's name on
every message costs a set lookup, not a query.
"""

from __future__ import annotations

import functools
import unicodedata


@functools.cache
def _skeleton_table() -> dict[int, str]:
    """Each confusable character's class representative, for ``str.translate``.

    Built on first use: the confusables data costs ~8 MiB, which a server with no members
    (the guest-only default) never needs.
    """
    from confusable_homoglyphs.confusables import confusables_data

    parent: dict[str, str] = {}

    def root(c: str) -> str:
        while parent.get(c, c) != c:
            parent[c] = parent.get(parent[c], parent[c])  # path halving
            c = parent[c]
        return c

    for char, glyphs in confusables_data.items():
        if len(char) != 1:
            continue
        for glyph in glyphs:
            other = glyph["c"]
            if len(other) != 1:
                continue
            a, b = root(char), root(other)
            if a != b:
                low, high = sorted((a, b))
                parent[high] = low
    return {ord(c): root(c) for c in parent if root(c) != c}


def fold(name: str) -> str:
    """The key that decides whether two names are one name (see the module's docstring)."""
    text = unicodedata.normalize("NFKC", name).strip().casefold()
    return unicodedata.normalize("NFKC", text.translate(_skeleton_table())).casefold()


class MemberNames:
    """The keys of every member's name: filled at start-up, added to at each signup."""

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self.last_id = 0  # the newest member whose name is in here

    def load(self, rows: list[tuple[int, str]]) -> None:
        """Add (id, key) rows, as :meth:`Storage.member_name_keys` gives them."""
        for member_id, key in rows:
            self._keys.add(key)
            self.last_id = max(self.last_id, member_id)

    def add(self, key: str) -> None:
        self._keys.add(key)

    def taken(self, name: str) -> bool:
        """Whether ``name`` is, once folded, some member's name."""
        return bool(self._keys) and fold(name) in self._keys

    def __len__(self) -> int:
        return len(self._keys)
