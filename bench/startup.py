"""Start-up time of the command: the median wall time of N runs of `newsletter --help`.

    .venv/bin/python bench/startup.py --runs 21
    .venv/bin/python bench/startup.py --newsletter /tmp/wheel-venv/bin/newsletter --args "issues --help"

Each run is a fresh process (interpreter start, imports, help text), as a shell runs it; one
warm-up run first so the page cache holds the files. Also times `python -c pass` with the same
interpreter, the floor no command can go below. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path


def timed(argv: list[str], runs: int) -> list[float]:
    subprocess.run(argv, check=True, capture_output=True)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--newsletter", default=str(Path(sys.executable).parent / "newsletter"),
                        help="the installed script (default: the one beside this Python)")
    parser.add_argument("--args", default="--help", help="the command line to time (default: --help)")
    options = parser.parse_args()
    command = [options.newsletter, *shlex.split(options.args)]
    python = Path(options.newsletter).parent / "python"
    times = timed(command, options.runs)
    floor = timed([str(python if python.exists() else sys.executable), "-c", "pass"], options.runs)
    print(json.dumps({
        "command": " ".join(command),
        "runs": options.runs,
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "python_floor_median_s": round(statistics.median(floor), 3),
    }))


if __name__ == "__main__":
    main()
