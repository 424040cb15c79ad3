"""Keep a worker's freed message buffers for the next claim instead of handing them back to the OS.

A worker personalises a claim's messages (1,000 of 34 KB) before sending them and frees them all
after. glibc's malloc gives memory back whenever the free top of its heap passes 128 KB, and takes
it again at the next claim: a page fault and a zeroed page per 4 KB, every claim. Raising that
threshold keeps the pages (RSS stays at its peak, which it reaches anyway). Measured with one
worker process, 20,000 messages into smtp-sink: 250 -> 197 us of CPU a message (system time
70 -> 38 us), wall 10.3 -> 8.7 s (docs/benchmarks.md). Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
KEEP_BYTES = 256 << 20  # trim only beyond this much free memory at the heap's top


def keep_freed_memory(keep: int = KEEP_BYTES) -> bool:
    """Ask malloc to keep up to ``keep`` bytes of freed memory; False where there is no mallopt."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_TRIM_THRESHOLD, keep))
