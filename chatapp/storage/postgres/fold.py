"""Search folding on PostgreSQL: the SQL functions the trigram index and queries share.

SQLite folds accents with ``replace()`` chains generated from :data:`chatapp.textnorm.FOLD`
(``migrations/0003_search.sql``); PostgreSQL does the same with one ``translate()`` for the
one-to-one letters and the combining marks, and ``replace()`` for the few letters that become
two (``ß`` → ``ss``), generated here from the same mapping, so both backends find exactly the
same messages and :mod:`chatapp.highlight` marks what was found. (The ``unaccent`` extension
folds differently, e.g. Greek and ligatures, and is STABLE, not usable in an index as it is.)
Case is folded on top by ``lower()`` under the ICU root collation, Unicode-wide whatever the
database's own locale, as SQLite's trigram tokenizer folds case.

:func:`function_sql` is the text written into ``migrations/postgres/0001_initial.sql``; a
test checks that they are the same, so the migration cannot drift from textnorm.
"""

from __future__ import annotations

import unicodedata

from ...textnorm import FOLD, TIERS


def _literal(chars: str) -> str:
    """An SQL string literal; combining marks (invisible on their own) as U& escapes."""
    if any(unicodedata.combining(c) for c in chars):
        return "U&'" + "".join(f"\\{ord(c):04X}" for c in chars) + "'"
    return "'" + chars.replace("'", "''") + "'"


def function_sql() -> str:
    """``chatapp_fold`` (accents off, case kept: ``textnorm.fold``) and ``chatapp_search_text``
    (folded and lower-cased: what the index holds and queries are compared with)."""
    pairs = sorted(FOLD.items())
    multi = [(src, dst) for src, dst in pairs if len(dst) > 1]
    single = [(src, dst) for src, dst in pairs if len(dst) == 1]
    gone = [src for src, dst in pairs if not dst]
    expr = "body"
    for src, dst in multi:
        expr = f"replace({expr}, {_literal(src)}, '{dst}')"
    # translate() deletes the characters of its second argument past the end of its third.
    source = _literal("".join(src for src, _ in single)) + " || " + _literal("".join(gone))
    target = _literal("".join(dst for _, dst in single))
    ranges = "".join(f"\\u{lo:04X}-\\u{hi:04X}" for lo, hi in TIERS)
    return (
        "CREATE FUNCTION chatapp_fold(body text) RETURNS text\n"
        "    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE\n"
        "    RETURN CASE\n"
        "        WHEN octet_length(body) = char_length(body) THEN body  -- ASCII: nothing to fold\n"
        f"        WHEN body !~ '[{ranges}]' THEN body  -- no letter of a folded block\n"
        f"        ELSE translate({expr},\n"
        f"            {source},\n"
        f"            {target}) END;\n"
        "\n"
        "CREATE FUNCTION chatapp_search_text(body text) RETURNS text\n"
        "    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE\n"
        "    RETURN lower(chatapp_fold(body) COLLATE \"und-x-icu\");\n"
    )
