"""A delivery backend from a separate package, found through the `newsletter.mail.backends` entry points.

tests/plugin_pkg is built and installed the way pip installs any plug-in (offline, into a
temporary folder), then the `newsletter` command runs with NEWSLETTER_BACKEND=testplugin and
PYTHONPATH pointing at that folder (tests/cli_runner.py: a forked child that reads PYTHONPATH as a
new interpreter would; NEWSLETTER_TEST_CLI_SUBPROCESS=1 runs the installed script instead):
nothing in newsletter names the plug-in.
"""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from newsletter.mail.backends.registry import available_backends
from tests.cli_runner import make_run

PLUGIN_SOURCE = Path(__file__).resolve().parents[1] / "plugin_pkg"
SEEDS = Path(__file__).resolve().parents[2] / "seeds"
READERS = {"ana@example.net": "Ana", "bob@example.net": "Bob Ŝmith", "cy@example.net": ""}

Run = Callable[..., subprocess.CompletedProcess[str]]


def install_plugin(target: Path, work: Path) -> None:
    """`pip install` the plug-in package into ``target``: no index, no network, no build isolation."""
    source = work / "plugin_pkg"
    # A copy, so the build leaves no build/ or egg-info behind in the source tree.
    shutil.copytree(PLUGIN_SOURCE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-build-isolation", "--no-deps",
         "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=120,
    )
    if done.returncode != 0 and "bdist_wheel" in done.stdout + done.stderr:
        pytest.fail(
            "pip cannot build the plug-in package offline: this environment's setuptools "
            f"({_version('setuptools')}) has no bdist_wheel command. Setuptools >= 70.1 has it built in; "
            "older ones need the `wheel` package installed beside them.\n" + done.stderr[-1500:]
        )
    assert done.returncode == 0, done.stdout + done.stderr


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


@pytest.fixture
def cli(tmp_path: Path) -> Callable[[dict[str, str]], Run]:
    """Runs `newsletter ...` as an operator would (tests/cli_runner.py: a fresh environment plus
    ``extra``, PYTHONPATH included, in a forked child), on the plug-in or whatever backend is named."""

    def with_env(extra: dict[str, str]) -> Run:
        return make_run(tmp_path, extra=extra)

    return with_env


def test_a_backend_from_another_package_delivers_the_issue(cli: Callable[[dict[str, str]], Run], tmp_path: Path) -> None:
    site, drop = tmp_path / "site", tmp_path / "drop"
    install_plugin(site, tmp_path)
    assert (site / "newsletter_test_plugin" / "__init__.py").exists()
    run = cli({"PYTHONPATH": str(site), "NEWSLETTER_BACKEND": "testplugin", "NEWSLETTER_TEST_PLUGIN_DIR": str(drop)})

    ids = {}
    for address, name in READERS.items():
        ids[address] = json.loads(run("subscribers", "add", address, "--name", name, "--json").stdout)["id"]
    run("ingest", str(SEEDS))
    issue = json.loads(run("issues", "compose", "--json").stdout)["id"]
    run("issues", "send", str(issue), "--test-to", "editor@example.net")
    assert json.loads(run("issues", "send", str(issue), "--json").stdout)["queued"] == len(READERS)
    assert json.loads(run("worker", "--until-idle", "--json").stdout)["handled"] == len(READERS)

    status = json.loads(run("issues", "status", str(issue), "--json").stdout)
    assert (status["status"], status["sent"]) == ("sent", len(READERS))
    received = {path.stem: path for path in drop.glob("*.eml")}
    test_copies = [stem for stem in received if stem.startswith("test-")]
    assert len(test_copies) == 1 and (drop / f"{test_copies[0]}.rcpt").read_text() == "editor@example.net"
    for address, name in READERS.items():
        # The Message-ID carries the delivery's signed token after the reader: issue-N.reader-M.d-<token>@
        [stem] = [s for s in received if s.startswith(f"issue-{issue}.reader-{ids[address]}.d-")] or [
            f"the plug-in got no message for {address}: {sorted(received)}"]
        assert stem in received, stem
        assert (drop / f"{stem}.rcpt").read_text() == address
        message = email.message_from_bytes(received[stem].read_bytes(), policy=email.policy.default)
        [to] = message["To"].addresses
        assert (to.addr_spec, to.display_name) == (address, name)
        assert message["Message-ID"] == f"<{stem}>"
        assert "Kursk" in message["Subject"]
    assert len(received) == len(READERS) + 1
    # The CLI closes the backend it built when each command ends.
    assert (drop / "closed.log").read_text().count("\n") >= 7

    # The plug-in is listed among the choices when a name is wrong.
    done = cli({"PYTHONPATH": str(site), "NEWSLETTER_BACKEND": "textplugin"})("issues", "list", ok=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "testplugin" in done.stderr.splitlines()[-1]


@pytest.mark.parametrize("command", [("issues", "list"), ("worker", "--until-idle")], ids=["issues", "worker"])
def test_an_unknown_backend_name_is_one_clear_line_listing_the_installed_ones(
    cli: Callable[[dict[str, str]], Run], command: tuple[str, ...]
) -> None:
    done = cli({"NEWSLETTER_BACKEND": "smpt"})(*command, ok=False)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "unknown delivery backend 'smpt'" in line
    assert all(name in line for name in ["console", "memory", "outbox", "smtp"]), line
    assert set(available_backends()) >= {"console", "memory", "outbox", "smtp"}
