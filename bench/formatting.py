"""``python -m bench.formatting``: how long the message renderer takes, per input, in ms.

Times :func:`chatapp.formatting.render` with its cache emptied before every call (what
the first sight of a message costs), for plain chat on the fast path, typical formatted
messages, and hostile 4,000-character inputs built to make a Markdown parser or a
linkifier work hard. Each figure is the best of ``--repeat`` runs (the least disturbed
by the rest of the machine); a hostile input over ``--budget`` ms is flagged and makes
the exit status 1. The tests check these inputs render inert; timing lives here, since
tests never assert on time.
"""

from __future__ import annotations

import argparse
import sys
import time

from chatapp import formatting
from chatapp.protocol import MAX_MESSAGE

PLAIN = {
    "plain short": "hello there how are you",
    "plain sentence": "Sure, I'll be there at five. Bring the blue folder, it's on my desk!",
    "plain 4000": ("the quick brown fox jumps over the lazy dog " * 100)[:MAX_MESSAGE].strip(),
}

TYPICAL = {
    "bold and a link": "**heads up**: the deploy moved, see https://example.com/runbook#deploy",
    "code and italics": "try `make test` first, then _maybe_ ~~restart~~ reload it",
    "list": "todo:\n- write tests\n- fix the *flaky* one\n- ship it",
    "quote and reply": "> did you see the logs?\nyes, it's the cache again",
    "code block": "```\ndef render(body: str) -> str:\n    return body\n```\nlike this",
    "mixed 2000": ("**bold** _it_ `code` ~~gone~~ https://example.com/a?b=c and a@b.org\n" * 40)[:2000],
}

# Each is as long as a message may be, built to push one part of the parser or the
# linkifier towards its worst case (deep nesting, backtracking, rescanning).
PATHOLOGICAL = {
    "emphasis stars": "*" * MAX_MESSAGE,
    "emphasis *a": "*a" * (MAX_MESSAGE // 2),
    "emphasis _a": "_a" * (MAX_MESSAGE // 2),
    "emphasis **a": ("**a" * MAX_MESSAGE)[:MAX_MESSAGE],
    "emphasis nested *_": "*_" * 999 + "x" + "_*" * 999,
    "strikethrough ~~a": ("~~a" * MAX_MESSAGE)[:MAX_MESSAGE],
    "open brackets": "[" * MAX_MESSAGE,
    "nested brackets": "[" * 2000 + "]" * 2000,
    "link openers [a](": "[a](" * (MAX_MESSAGE // 4),
    "link openers [](": ("[](" * MAX_MESSAGE)[:MAX_MESSAGE],
    "links in links": "[[" * 1000 + "x" + "](http://a.com)" * 100,
    "image openers ![": "![" * (MAX_MESSAGE // 2),
    "quotes 1000 deep": "> " * 1999 + "x",
    "quote lines": "> a\n" * (MAX_MESSAGE // 4),
    "lists 1000 deep": "- " * 1999 + "x",
    "list lines": "- a\n" * (MAX_MESSAGE // 4),
    "ordered list lines": "1. a\n" * (MAX_MESSAGE // 5),
    "indented lists": "".join("  " * i + "- x\n" for i in range(60)),
    "backticks": "`" * MAX_MESSAGE,
    "backtick runs `a": "`a" * (MAX_MESSAGE // 2),
    "fences": "```\n" * (MAX_MESSAGE // 4),
    "line breaks": "a\n" * (MAX_MESSAGE // 2),
    "backslashes": "\\" * MAX_MESSAGE,
    "entities &#": "&#" * (MAX_MESSAGE // 2),
    "entities &amp;": "&amp;" * (MAX_MESSAGE // 5),
    "html openers <a": "<a" * (MAX_MESSAGE // 2),
    "autolink openers <http://": "<http://" * (MAX_MESSAGE // 8),
    "linkify a.": "a." * (MAX_MESSAGE // 2),
    "linkify www.": "www." * (MAX_MESSAGE // 4),
    "linkify x.io": "x.io " * (MAX_MESSAGE // 5),
    "linkify urls": "http://a.com " * (MAX_MESSAGE // 13),
    "linkify emails": "a@b.com " * (MAX_MESSAGE // 8),
    "linkify @": "a@" * (MAX_MESSAGE // 2),
    "linkify //": "//a" * (MAX_MESSAGE // 3),
    "linkify long url": "https://example.com/" + "a" * (MAX_MESSAGE - 20),
    "linkify scheme run": "a" * (MAX_MESSAGE - 12) + "http://a.com",
    "dots 1.2.": "1.2." * (MAX_MESSAGE // 4),
    "pipes |a": "|a" * (MAX_MESSAGE // 2),
    "hashes # ": "# " * (MAX_MESSAGE // 2),
}


def best_ms(body: str, repeat: int) -> float:
    """The fastest of ``repeat`` uncached renderings of ``body``, in milliseconds."""
    best = float("inf")
    for _ in range(repeat):
        formatting.clear_cache()
        started = time.perf_counter()
        formatting.render(body)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def cached_us(body: str, calls: int = 10_000) -> float:
    """The mean time of a call whose result is already cached, in microseconds."""
    formatting.render(body)
    started = time.perf_counter()
    for _ in range(calls):
        formatting.render(body)
    return (time.perf_counter() - started) / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.formatting", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per input; the best counts (default 5)")
    parser.add_argument("--budget", type=float, default=50.0, help="ms a hostile input may take (default 50)")
    args = parser.parse_args(argv)
    over: list[str] = []
    for title, inputs in (("plain chat (fast path)", PLAIN), ("typical formatting", TYPICAL),
                          ("hostile inputs", PATHOLOGICAL)):
        print(f"\n{title}")
        for name, body in inputs.items():
            ms = best_ms(body, args.repeat)
            path = "fast" if formatting.is_plain(body) else "full"
            flag = ""
            if inputs is PATHOLOGICAL and ms > args.budget:
                flag = f"  OVER {args.budget:g} ms"
                over.append(name)
            print(f"  {name:28} {len(body):5} chars  {path}  {ms:8.3f} ms{flag}")
    print(f"\ncached call: {cached_us(PLAIN['plain short']):.2f} us "
          f"(plain), {cached_us(TYPICAL['bold and a link']):.2f} us (formatted)")
    if over:
        print(f"\n{len(over)} hostile inputs over {args.budget:g} ms: {', '.join(over)}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
