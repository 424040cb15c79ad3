"""`newsletter run`: the web app, a worker and the scheduler as one supervised group of processes.

The real command in its own process on a free port with its own data dir: a page is served, the
confirmation email links to that port, SIGTERM stops every child (exit 0), and a child killed
from outside stops the group (exit 1, naming the child).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

NEWSLETTER = str(Path(sys.executable).parent / "newsletter")
CHILDREN = ("serve", "worker", "scheduler")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def children_of(pid: int) -> dict[int, str]:
    """pid -> command line of every live descendant of pid, from /proc."""
    parents: dict[int, int] = {}
    lines: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if fields[0] == "Z":
            continue
        parents[int(entry.name)] = int(fields[1])
        lines[int(entry.name)] = cmdline
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found[child] = lines[child]
                frontier.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.fixture
def group(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path, Path]]:
    """`newsletter run --port P` from an empty folder with its own data dir and no NEWSLETTER_BASE_URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NEWSLETTER_DATA_DIR=str(tmp_path / "var"),
        NEWSLETTER_FROM_ADDRESS="The Briefing <briefing@example.org>",
        NEWSLETTER_BACKEND="outbox",
        NEWSLETTER_WORKER_POLL_SECONDS="0.5",
    )
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen([NEWSLETTER, "run", "--port", str(port), "--grace", "20"], cwd=tmp_path, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: all(any(f"newsletter {name}" in line for line in children_of(process.pid).values())
                             for name in CHILDREN) or process.poll() is not None, 60, "the three children")
        assert process.poll() is None, log.read_text()
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/subscribe") == 200 or process.poll() is not None, 60,
                 "the web app")
        yield process, port, tmp_path / "var", log
    finally:
        if process.poll() is None:
            for child in children_of(process.pid):
                os.kill(child, signal.SIGKILL)
            process.kill()
            process.wait()


def _get(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except OSError:
        return None


def test_run_serves_links_to_its_port_and_stops_every_child_on_sigterm(group) -> None:
    process, port, data_dir, log = group
    form = urllib.parse.urlencode({"email": "reader@example.net", "name": "Reader"}).encode()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/subscribe", data=form, timeout=10) as response:
        assert response.status == 200
    outbox = data_dir / "outbox"

    def confirmation() -> str | None:  # the outbox may also hold the scheduler's note to the editor
        texts = [path.read_text() for path in outbox.glob("*.eml")]
        return next((text for text in texts if "To: reader@example.net" in text), None)

    wait_for(confirmation, 30, "the confirmation email")
    message = confirmation() or ""
    assert f"http://127.0.0.1:{port}/confirm/" in message
    assert "http://127.0.0.1:8000" not in message

    children = children_of(process.pid)
    assert len(children) >= 3, children
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log.read_text()
    assert not [pid for pid in children if alive(pid)], log.read_text()
    assert "stopped" in log.read_text()


def test_a_child_that_dies_stops_the_group_with_exit_1(group) -> None:
    process, _port, _data_dir, log = group
    children = children_of(process.pid)
    worker = next(pid for pid, line in children.items() if "newsletter worker" in line)
    os.kill(worker, signal.SIGKILL)
    assert process.wait(timeout=60) == 1
    text = log.read_text()
    assert f"worker (pid {worker}) ended unexpectedly (killed by SIGKILL); stopping the others" in text
    assert not [pid for pid in children if alive(pid)], text
