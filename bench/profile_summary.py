"""Summarise py-spy's collapsed stacks (``bench/send.py --profile FILE``): where the workers' time goes.

    .venv/bin/python bench/profile_summary.py FILE [--top 30]

Prints the share of samples per function, self (on top of the stack) and inclusive (anywhere on
it, counted once per sample), so a before/after pair of profiles compares line by line.
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^)]*?)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    short = path.split("site-packages/")[-1].split("/work/main/")[-1].split("/lib/python3")[-1]
    return f"{match['func']} ({short})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in Path(args.file).read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(f) for f in stack.split(";") if not f.startswith("process ")]
        total += count
        if frames:
            own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    print(f"{total} samples")
    print("\nself:")
    for name, count in own.most_common(args.top):
        print(f"  {100 * count / total:5.1f}%  {name}")
    print("\ninclusive:")
    for name, count in inclusive.most_common(args.top):
        print(f"  {100 * count / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
