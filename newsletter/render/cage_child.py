"""The cage's child process (``python -m newsletter.render.cage_child``, started by
``newsletter.render.cage``): one JSON request on stdin, one JSON answer on stdout.

It limits itself before it checks (``mjml_checks``) or renders anything: CPU seconds (SIGXCPU, then SIGKILL a second
later), address space (MemoryError, or an abort inside mjml-python), the size of the files it
writes (its answer) and no core dumps. It imports no database, web or settings code.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path
from typing import Any

from newsletter.render.cage import Limits, answer_bytes, memory_exceeded
from newsletter.render.layout import TemplateError, TemplateLimitExceeded, decode_context, render_layout
from newsletter.render.mjml_checks import check_source


def _set(kind: int, soft: int, hard: int) -> None:
    _, current = resource.getrlimit(kind)
    if current != resource.RLIM_INFINITY:  # an unprivileged process may only lower a hard limit
        soft, hard = min(soft, current), min(hard, current)
    resource.setrlimit(kind, (soft, hard))


def confine(limits: Limits) -> None:
    _set(resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1)
    _set(resource.RLIMIT_AS, limits.memory_bytes, limits.memory_bytes)
    _set(resource.RLIMIT_FSIZE, answer_bytes(limits), answer_bytes(limits))
    _set(resource.RLIMIT_CORE, 0, 0)


def _error(exc: TemplateError) -> dict[str, Any]:
    return {"error": {"message": str(exc), "template": exc.template, "lineno": exc.lineno,
                      "limit": isinstance(exc, TemplateLimitExceeded)}}


def main() -> None:
    request = json.loads(sys.stdin.buffer.read())
    limits = Limits(**request["limits"])
    confine(limits)
    try:
        check_source(request["source"])
        html, text = render_layout(Path(request["templates_dir"]), request["source"],
                                   decode_context(request["context"]), max_chars=limits.output_chars)
        answer: dict[str, Any] = {"html": html, "text": text}
    except TemplateError as exc:
        answer = _error(exc)
    except MemoryError:
        answer = _error(memory_exceeded(limits))
    sys.stdout.buffer.write(json.dumps(answer).encode("ascii"))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
