"""How many worker processes and SMTP connections `newsletter worker` runs when not told.

The send is CPU-bound on the sending machine (personalising, the SMTP writes, the claims and
outcome writes, and on one box also the database and the relay), so the defaults follow the
cores and the database, as measured in docs/benchmarks.md ("Worker defaults"):

- SQLite has one writer: one process; a second would only wait on the lock. Two connections keep
  the relay busy while the process builds the next messages.
- PostgreSQL: two processes per core (a process waits on the database and the relay part of the
  time, and a second one per core fills those waits), one SMTP connection each (pipelined, one
  connection keeps up with a process); at most MAX_AUTO_PROCESSES.

A flag (``--processes``, ``--connections``) or a setting (NEWSLETTER_WORKER_PROCESSES,
NEWSLETTER_SMTP_CONNECTIONS; 0 = auto) overrides each figure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from newsletter.config import Settings

PROCESSES_PER_CORE = 2
MAX_AUTO_PROCESSES = 16
SQLITE_CONNECTIONS = 2
POSTGRES_CONNECTIONS = 1


@dataclass(frozen=True)
class WorkerPlan:
    processes: int
    connections: int  # SMTP connections per process
    reason: str  # how the figures were chosen, printed at start

    def describe(self) -> str:
        each = "connection" if self.connections == 1 else "connections"
        plural = "process" if self.processes == 1 else "processes"
        return f"{self.processes} worker {plural} x {self.connections} SMTP {each} ({self.reason})"


def usable_cores() -> int:
    """The cores this process may run on (a container's or taskset's limit, not the machine's)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


def plan_workers(settings: Settings, processes: int | None = None, connections: int | None = None,
                 cores: int | None = None) -> WorkerPlan:
    """The processes and connections to run: the flags, else the settings, else the defaults above."""
    sqlite = settings.database.startswith("sqlite")
    cores = cores or usable_cores()
    reasons: list[str] = []

    wanted = processes or settings.worker_processes
    if sqlite:
        count = 1
        reasons.append("SQLite has one writer" if wanted and wanted > 1 else "SQLite: one process")
    elif wanted:
        count = wanted
        reasons.append("processes as set")
    else:
        count = min(PROCESSES_PER_CORE * cores, MAX_AUTO_PROCESSES)
        reasons.append(f"auto: PostgreSQL, {cores} {'core' if cores == 1 else 'cores'}")

    per_process = connections or settings.smtp_connections
    if per_process:
        reasons.append("connections as set")
    else:
        per_process = SQLITE_CONNECTIONS if sqlite else POSTGRES_CONNECTIONS
    return WorkerPlan(count, per_process, "; ".join(reasons))
