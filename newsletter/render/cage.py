"""The editor's issue template rendered in a cage: a child process with CPU, memory and output
limits, so no template can crash, freeze or starve the web server, a worker or the scheduler.

A template is code: two nested ``range`` loops kept the server busy for seconds, three for
ever, and 12,000 nested tags crashed mjml-python (a Rust stack overflow kills the process). So
each render of a custom template runs ``python -m newsletter.render.cage_child``, which sets
``resource`` limits on itself before rendering; the depth of tags is checked before mjml-python
sees them; a wall-clock timeout is the backstop. Whatever happens to the child, the caller gets
the HTML and text or a TemplateError whose message names what went wrong.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from newsletter.errors import Unavailable
from newsletter.render.layout import CUSTOM_HTML, TemplateError, TemplateLimitExceeded, encode_context, megabytes

log = logging.getLogger(__name__)

CHILD_MODULE = "newsletter.render.cage_child"


@dataclass(frozen=True)
class Limits:
    """What one render of an editor's template may use."""

    # CPU seconds, the child's start included: the shipped layout takes the child ~0.13 s for
    # one article, ~0.17 s for 100 (914 kB of HTML).
    cpu_seconds: int = 2
    # Address space: the child starts at ~30 MB (Python, Jinja, mjml-python); 64 MB renders an issue.
    memory_bytes: int = 512 * 2**20
    # Characters of MJML, of HTML and of text each; Gmail clips a message past 102 kB anyway.
    output_chars: int = 4 * 2**20
    # Wall clock, for a child that stops using CPU (should never happen; kill it anyway).
    wall_seconds: float = 20.0


LIMITS = Limits()


class CageUnavailable(Unavailable):
    """The child process could not be started (no memory, too many processes)."""


@dataclass(frozen=True)
class CagedRender:
    html: str
    text: str


def _limit_error(message: str) -> TemplateLimitExceeded:
    return TemplateLimitExceeded(f"{CUSTOM_HTML}: {message}", template=CUSTOM_HTML)


def memory_exceeded(limits: Limits) -> TemplateLimitExceeded:
    size = megabytes(limits.memory_bytes)
    return _limit_error(f"the template used more than {size} of memory; the limit is {size}")


def _failure(returncode: int, stderr: str, limits: Limits) -> TemplateError:
    """The error for a child that died instead of answering."""
    if "MemoryError" in stderr or "memory allocation of" in stderr:  # Python's, Rust's
        return memory_exceeded(limits)
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):  # the soft CPU limit, then the hard one
        seconds = limits.cpu_seconds
        return _limit_error(f"the template used more than {seconds} s of CPU; the limit is {seconds} s")
    if returncode == -signal.SIGXFSZ or "File too large" in stderr:
        size = megabytes(limits.output_chars)
        return _limit_error(f"the template's output is larger than {size}; the limit is {size}")
    how = signal.Signals(-returncode).name if returncode < 0 else f"exit status {returncode}"
    log.warning("the template renderer crashed (%s): %s", how, stderr[-2000:])
    return TemplateError(f"{CUSTOM_HTML}: the template crashed the renderer ({how})", template=CUSTOM_HTML)


def _answer(data: Mapping[str, Any]) -> CagedRender:
    if "error" in data:
        error = data["error"]
        kind = TemplateLimitExceeded if error.get("limit") else TemplateError
        raise kind(str(error["message"]), template=error.get("template"), lineno=error.get("lineno"))
    return CagedRender(html=str(data["html"]), text=str(data["text"]))


def _read(file: IO[bytes], cap: int) -> bytes:
    file.seek(0)
    return file.read(cap)


def render_caged(
    templates_dir: Path, source: str, context: Mapping[str, Any], limits: Limits = LIMITS
) -> CagedRender:
    """The issue's HTML and text with ``source`` as its layout, rendered in a child process.

    Raises TemplateError (with the template's line when known) or TemplateLimitExceeded.
    """
    request = json.dumps({
        "templates_dir": str(templates_dir), "source": source, "context": encode_context(context),
        "limits": asdict(limits),
    }).encode("ascii")
    # No secrets for the child: it needs the templates and the context, never the settings.
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSLETTER_")}
    # Files, not pipes, for the answer: the child's RLIMIT_FSIZE caps them, and nothing can
    # block on a full pipe.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", CHILD_MODULE], stdin=subprocess.PIPE, stdout=out, stderr=err,
                env=env,
            )
        except OSError as exc:
            raise CageUnavailable(f"the template renderer could not start: {exc}") from exc
        try:
            child.communicate(request, timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired as exc:
            child.kill()
            child.wait()
            seconds = f"{limits.wall_seconds:g}"
            raise _limit_error(f"the template took longer than {seconds} s to render; the limit is {seconds} s") from exc
        except BaseException:  # interrupted (Ctrl-C, a server stopping): leave no child behind
            child.kill()
            child.wait()
            raise
        answer = _read(out, answer_bytes(limits) + 1)
        if child.returncode != 0 or not answer:
            raise _failure(child.returncode, _read(err, 64_000).decode("utf-8", "replace"), limits)
    try:
        data = json.loads(answer)
    except ValueError as exc:
        log.warning("the template renderer gave no readable answer (%d bytes)", len(answer))
        raise TemplateError(f"{CUSTOM_HTML}: the template crashed the renderer (no answer)",
                            template=CUSTOM_HTML) from exc
    return _answer(data)


def answer_bytes(limits: Limits) -> int:
    """The most an answer may take: HTML and text at the output limit, JSON-escaped (\\uXXXX)."""
    return 2 * 6 * limits.output_chars + 64_000
