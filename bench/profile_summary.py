"""Summarise py-spy raw stacks (``python -m bench --profile DIR``) into ranked tables.

``python -m bench.profile_summary DIR/burst.txt [--top 25]`` prints where the samples
went: by the innermost function (self time), by function anywhere on the stack
(inclusive time, counted once per stack), and by the chatapp function nearest the top
of the stack (what chatapp code is responsible for the time spent below it).
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*)(?::\d+)?\)$")


def _name(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    return f"{m['func']} ({m['file']})"


def summarise(path: Path, top: int) -> str:
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    owner: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_name(f) for f in stack.split(";")]
        self_time[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
        ours = [f for f in frames if "(chatapp/" in f]
        owner[ours[-1] if ours else "(outside chatapp code)"] += n
    out = [f"{path}: {total} samples"]
    for title, counter in (("self", self_time), ("inclusive", inclusive),
                           ("nearest chatapp frame", owner)):
        out.append(f"\n-- by {title} --")
        for name, n in counter.most_common(top):
            out.append(f"{100 * n / max(total, 1):6.1f}%  {name}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for f in args.files:
        print(summarise(f, args.top))


if __name__ == "__main__":
    main()
