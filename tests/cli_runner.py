"""The real `newsletter` command run in its own process, as operators and cron jobs run it.

The command runs in a forked child of the test process, with its own environment, working
directory, standard streams and exit code: everything a subprocess would have, minus the
~1.8 s of interpreter start-up and imports that the test process has already paid (the suite
runs a few hundred commands). `NEWSLETTER_TEST_CLI_SUBPROCESS=1` runs the installed script
instead, the same way a shell would.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import newsletter
import newsletter.cli.main  # noqa: F401  (imported once here, so every forked command starts warm)

# The commands import their domain modules when they run (so `newsletter --help` starts fast):
# import every module once here, so the forked commands do not pay for them each time.
for _module in pkgutil.walk_packages(newsletter.__path__, "newsletter."):
    if ".migrations" not in _module.name:
        importlib.import_module(_module.name)

NEWSLETTER = str(Path(sys.executable).parent / "newsletter")
TIMEOUT = 60
Run = Callable[..., subprocess.CompletedProcess[str]]


def _child(args: list[str], env: dict[str, str], cwd: Path, stdin_r: int, out_w: int, err_w: int) -> None:
    """In the forked child: become `newsletter ARGS` and never return."""
    code = 1
    try:
        os.dup2(stdin_r, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
            signal.signal(sig, signal.SIG_DFL)
        # Fresh streams on the new descriptors (the test runner had replaced sys.stdout & co).
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.argv = [NEWSLETTER, *args]
        # PYTHONPATH as a new interpreter would read it: in front of the path (a plug-in installed
        # into a folder, tests/mail/test_backend_plugin.py), with the finders' caches dropped.
        extra = [entry for entry in env.get("PYTHONPATH", "").split(os.pathsep) if entry]
        if extra:
            sys.path[:0] = extra
            importlib.invalidate_caches()
        # As in a new process: no handlers the test runner put on the root logger.
        import logging

        root = logging.getLogger()
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        root.setLevel(logging.WARNING)
        from newsletter.cli.main import main

        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - report it as a crashed command would
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _forked(args: list[str], env: dict[str, str], cwd: Path, stdin: str | None) -> subprocess.CompletedProcess[str]:
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        for fd in (stdin_w, out_r, err_r):
            os.close(fd)
        _child(args, env, cwd, stdin_r, out_w, err_w)
    for fd in (stdin_r, out_w, err_w):
        os.close(fd)
    os.write(stdin_w, (stdin or "").encode())
    os.close(stdin_w)
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    open_fds = [out_r, err_r]
    deadline = time.monotonic() + TIMEOUT
    while open_fds:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise subprocess.TimeoutExpired([NEWSLETTER, *args], TIMEOUT)
        ready, _, _ = select.select(open_fds, [], [], left)
        for fd in ready:
            data = os.read(fd, 65536)
            if data:
                chunks[fd].append(data)
            else:
                open_fds.remove(fd)
                os.close(fd)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    out = b"".join(chunks[out_r]).decode("utf-8", "replace")
    err = b"".join(chunks[err_r]).decode("utf-8", "replace")
    return subprocess.CompletedProcess([NEWSLETTER, *args], code, out, err)


def make_run(tmp_path: Path, database_url: str | None = None, extra: dict[str, str] | None = None) -> Run:
    """``extra``: more environment (it may name NEWSLETTER_ settings, or PYTHONPATH)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_") and k != "PYTHONPATH"}
    env.update(
        NEWSLETTER_DATA_DIR=str(tmp_path / "var"),
        NEWSLETTER_BASE_URL="https://news.example.org",
        NEWSLETTER_FROM_ADDRESS="The Briefing <briefing@example.org>",
        NEWSLETTER_BACKEND="outbox",
    )
    if database_url:
        env["NEWSLETTER_DATABASE_URL"] = database_url
    env.update(extra or {})
    subprocess_mode = os.environ.get("NEWSLETTER_TEST_CLI_SUBPROCESS") == "1"

    def run(*args: str, ok: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        if subprocess_mode:
            done = subprocess.run([NEWSLETTER, *args], env=env, cwd=tmp_path, capture_output=True, text=True,
                                  timeout=TIMEOUT, input=stdin)
        else:
            done = _forked(list(args), env, tmp_path, stdin)
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    return run
