"""A stand-in for newsletter.render.cage_child that fails the way a real child could: the
request's ``source`` says how ("segfault": killed by SIGSEGV, as mjml-python's stack overflow
was; "hang": never answers)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

if __name__ == "__main__":
    request = json.loads(sys.stdin.buffer.read())
    if request["source"] == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    threading.Event().wait()  # "hang": blocked, using no CPU, until the cage kills it
