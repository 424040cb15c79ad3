"""Postfix's smtp-sink and smtp-source, the yardstick every send benchmark is timed against."""

from __future__ import annotations

import os
import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sink(port: int) -> subprocess.Popen[bytes]:
    user = ["-u", "nobody"] if os.geteuid() == 0 else []  # smtp-sink refuses to run as root without -u
    sink = subprocess.Popen(["smtp-sink", *user, "-c", f"127.0.0.1:{port}", "1024"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return sink
        except OSError:
            time.sleep(0.05)
    sink.terminate()
    raise RuntimeError("smtp-sink did not start")


def smtp_source_rate(port: int, count: int, size: int, sessions: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["smtp-source", "-d", "-s", str(sessions), "-m", str(count), "-l", str(size),
         "-f", "bench@example.org", "-t", "reader@example.net", f"127.0.0.1:{port}"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return count / (time.perf_counter() - started)
