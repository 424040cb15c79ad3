"""The wheel runs anywhere: built from the sources, installed into a fresh venv, run from an empty
folder, it finds its templates, static files and migrations inside itself, not in the checkout.

No network: the wheel is built without build isolation (setuptools from the test extra) and
installed with --no-deps; the fresh venv gets the third-party packages from the project venv
through a .pth line. A directory named in a .pth file is not a site dir, so the editable
install's finder there stays inactive: `newsletter` can only come from the wheel (checked).
"""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "newsletter", "templates")
TIMEOUT = 120


@pytest.fixture(scope="session")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with only the wheel installed (once per session); its bin/ folder."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"  # a copy, so the build leaves nothing (build/, egg-info) in the checkout
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(base / "dist"), str(src)],
                   check=True, timeout=TIMEOUT, capture_output=True)
    (wheel,) = (base / "dist").glob("newsletter-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    for folder, inside in (("templates", "newsletter/templates"), ("newsletter/web/static", "newsletter/web/static"),
                           ("newsletter/db/migrations", "newsletter/db/migrations")):
        files = {f"{inside}/{path.relative_to(ROOT / folder).as_posix()}" for path in (ROOT / folder).rglob("*")
                 if path.is_file() and "__pycache__" not in path.parts}
        assert files and files <= shipped, f"not in the wheel: {sorted(files - shipped)}"
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=TIMEOUT)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", str(python), "install", "-q", "--no-deps", str(wheel)], check=True,
                   timeout=TIMEOUT, capture_output=True)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    return empty


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_") and k != "PYTHONPATH"}
    env.update(NEWSLETTER_DATA_DIR=str(tmp_path / "data"), NEWSLETTER_BACKEND="outbox",
               NEWSLETTER_FROM_ADDRESS="The Briefing <briefing@example.org>")
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], object], seconds: float) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    return None


def fetch(url: str) -> tuple[int, str, bytes] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.headers.get("content-type", ""), response.read()
    except OSError:
        return None


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_installed_wheel_runs_from_an_empty_folder(wheel_venv: Path, folder: Path, tmp_path: Path) -> None:
    env = environment(tmp_path)

    def newsletter(*args: str) -> str:
        done = subprocess.run([str(wheel_venv / "newsletter"), *args], cwd=folder, env=env, capture_output=True,
                              text=True, timeout=TIMEOUT)
        assert done.returncode == 0, f"newsletter {' '.join(args)}: {done.stderr}"
        return done.stdout

    where = subprocess.run([str(wheel_venv / "python"), "-c", "import newsletter.config as c, newsletter; "
                            "print(newsletter.__file__); print(c.shipped_templates())"],
                           cwd=folder, env=env, capture_output=True, text=True, check=True).stdout.split()
    venv = wheel_venv.parent
    assert all(Path(path).is_relative_to(venv) for path in where), where
    assert not any(Path(path).is_relative_to(ROOT) for path in where), where

    usage = newsletter("--help")
    assert "Usage:" in usage and "run" in usage
    assert "database ready" in newsletter("db", "upgrade")
    seeds = tmp_path / "seeds"
    shutil.copytree(ROOT / "seeds", seeds)
    assert "added" in newsletter("ingest", str(seeds))
    assert "issue 1" in newsletter("issues", "compose", "--week", "2026-W49")
    newsletter("issues", "preview", "1", "--out", str(tmp_path / "issue.html"))
    html = (tmp_path / "issue.html").read_text()
    assert html.startswith("<!doctype html>") and "<mj-" not in html  # the shipped MJML templates, rendered

    port = free_port()
    with (tmp_path / "serve.log").open("wb") as log:
        serve = subprocess.Popen([str(wheel_venv / "newsletter"), "serve", "--port", str(port)], cwd=folder, env=env,
                                 stdout=log, stderr=subprocess.STDOUT)
    try:
        page = wait_for(lambda: fetch(f"http://127.0.0.1:{port}/subscribe") or serve.poll() is not None, 60)
        assert isinstance(page, tuple), (tmp_path / "serve.log").read_text()
        assert page[0] == 200 and b'name="email"' in page[2]  # the shipped web templates
        assert b"<style>" in page[2] and b"box-sizing:border-box" in page[2]  # the stylesheet (inline in base.html)
        script = fetch(f"http://127.0.0.1:{port}/static/editor.js")
        assert script is not None and script[0] == 200 and "javascript" in script[1] and script[2]
    finally:
        stop(serve)

    port = free_port()
    with (tmp_path / "inbound.log").open("wb") as log:
        inbound = subprocess.Popen([str(wheel_venv / "newsletter"), "inbound", "--port", str(port)], cwd=folder,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        def banner() -> bool:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
                    return smtp.noop()[0] == 250
            except OSError:
                return inbound.poll() is not None

        assert wait_for(banner, 60) and inbound.poll() is None, (tmp_path / "inbound.log").read_text()
    finally:
        stop(inbound)
    assert not list(folder.iterdir()), "the commands wrote into the folder they ran from"
