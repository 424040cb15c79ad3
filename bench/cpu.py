"""CPU seconds of the processes a benchmark shares the machine with, read from /proc."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[str, float] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    # utime, stime, cutime, cstime: the process and the children it has reaped (a postgres
    # backend that exits is reaped by the postmaster, so its CPU stays counted).
    return name, sum(int(f) for f in fields[11:15]) / TICK


def process_cpu_seconds(pid: int) -> float:
    stat = _stat(pid)
    return stat[1] if stat else 0.0


def named_cpu_seconds(name: str) -> float:
    """Every live process called ``name``, with what they reaped."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) and stat[0] == name:
            total += stat[1]
    return total
