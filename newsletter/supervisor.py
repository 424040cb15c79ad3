"""Run several long-lived processes as one group (what `newsletter run` starts): start them all,
stop them all.

The rules:
- Each child runs in its own process group, so a Ctrl-C at the terminal reaches only the
  supervisor, which then stops every child once with SIGTERM (their own graceful stop: the worker
  records its batch in flight, uvicorn closes its connections). A child's own sub-processes
  (`worker --processes N`) are in its group and get the signal too.
- SIGINT, SIGTERM or SIGHUP to the supervisor: every child is stopped; exit 0 when each ended by
  itself within the grace period. A second Ctrl-C (SIGINT) kills what is left at once; a repeated
  SIGTERM changes nothing (wrappers such as timeout(1) send it to their whole group).
- A child that ends while nobody asked it to is reported by name with its exit status, the others
  are stopped, and the supervisor exits 1: no restart here, so a service manager (systemd,
  Docker's restart policy) sees the failure and decides, and a child that cannot start (a port in
  use, a broken database) does not spin.
- A child that has not ended `grace` seconds after SIGTERM is killed (SIGKILL, exit 1).
- On Linux each child also gets SIGTERM if the supervisor itself dies (even by SIGKILL), so no
  child outlives it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass(frozen=True)
class Child:
    """One process of the group: a name for messages and the command line that starts it."""

    name: str
    argv: Sequence[str]


@dataclass
class _Running:
    child: Child
    process: subprocess.Popen[bytes]
    stopped_at: float | None = None  # when we sent SIGTERM
    killed: bool = False


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the supervisor's own signal handling still stops them
        pass


def describe(returncode: int) -> str:
    return f"killed by {signal.Signals(-returncode).name}" if returncode < 0 else f"exit code {returncode}"


@dataclass
class Supervisor:
    children: Sequence[Child]
    env: Mapping[str, str] | None = None
    grace: float = 30.0  # seconds a child has to stop after SIGTERM
    poll: float = 0.2
    say: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))
    _running: list[_Running] = field(default_factory=list, init=False)
    _requested: threading.Event = field(default_factory=threading.Event, init=False)

    def run(self) -> int:
        """Start every child, wait for a stop signal or a child's death, stop the rest; the exit code."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        try:
            for child in self.children:
                self._start(child)
                if self._requested.is_set():
                    break
            failed = None if self._requested.is_set() else self._watch()
            if failed is not None:
                self.say(f"{failed.child.name} (pid {failed.process.pid}) ended unexpectedly "
                         f"({describe(failed.process.returncode)}); stopping the others")
            clean = self._stop_all()
            if failed is None and clean:
                self.say("stopped")
                return 0
            return 1
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _start(self, child: Child) -> None:
        process = subprocess.Popen(
            list(child.argv), env=None if self.env is None else dict(self.env),
            process_group=0, preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        self._running.append(_Running(child, process))
        self.say(f"started {child.name} (pid {process.pid})")

    def _on_signal(self, signum: int, _frame: object) -> None:
        if not self._requested.is_set():
            self.say(f"{signal.Signals(signum).name}: stopping every process")
        elif signum == signal.SIGINT:
            self.say("second Ctrl-C: killing every process")
            self._kill_all()
        self._requested.set()

    def _watch(self) -> _Running | None:
        """Wait until a stop is requested (None) or a child ends (that child)."""
        while not self._requested.wait(self.poll):
            for running in self._running:
                if running.process.poll() is not None:
                    return running
        return None

    def _signal_group(self, running: _Running, sig: signal.Signals) -> None:
        try:
            os.killpg(running.process.pid, sig)
        except (ProcessLookupError, PermissionError):  # already gone (a group leader reaped)
            pass

    def _kill_all(self) -> None:
        for running in self._running:
            if running.process.poll() is None:
                running.killed = True
            self._signal_group(running, signal.SIGKILL)

    def _stop_all(self) -> bool:
        """SIGTERM every child's group, wait up to `grace`, SIGKILL the rest; True if all ended by themselves."""
        now = time.monotonic()
        for running in self._running:
            if running.process.poll() is None:
                running.stopped_at = now
            self._signal_group(running, signal.SIGTERM)  # also a dead leader's leftover sub-processes
        deadline = now + self.grace
        while any(r.process.poll() is None for r in self._running) and time.monotonic() < deadline:
            time.sleep(min(self.poll, 0.05))
        for running in self._running:
            if running.process.poll() is None:
                self.say(f"{running.child.name} (pid {running.process.pid}) did not stop within {self.grace:g} s: killed")
                running.killed = True
                self._signal_group(running, signal.SIGKILL)
                running.process.wait()
        clean = True
        for running in self._running:
            code = running.process.returncode
            if running.killed:
                clean = False
            elif running.stopped_at is not None and code not in (0, -signal.SIGTERM):
                self.say(f"{running.child.name} (pid {running.process.pid}) stopped with {describe(code)}")
                clean = False
        return clean
