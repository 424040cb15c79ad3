"""A worker keeps its freed message buffers: the next claim reuses them instead of faulting pages in."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Allocates a claim's worth of 34 KB messages, frees them, and reports how much of that memory
# the process still holds (RSS from /proc).
PROGRAM = """
import sys
from newsletter.delivery.heap import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
messages = [bytes([i % 256]) * 34_000 for i in range(1000)]
held = rss()
del messages
print((rss() - held + 34_000_000) / 34_000_000)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc and /proc")
def test_freed_message_buffers_stay_with_the_worker() -> None:
    def kept(mode: str) -> float:
        out = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, check=True)
        return float(out.stdout)

    assert kept("keep") > 0.9  # the claim's 34 MB are still there for the next one
    assert kept("default") < 0.2  # without it, malloc hands them back at once
