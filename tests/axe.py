"""axe-core (from npm, `make test` installs it into node_modules) run inside a Playwright page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """The page's serious and critical axe-core violations (rule id, impact, the nodes' HTML)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make test` (it installs axe-core from npm)")
    # Evaluated through the DevTools protocol, which the pages' CSP (script-src 'self') allows;
    # a <script> tag would be blocked, as it should be.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result: dict[str, Any] = page.evaluate("async () => await axe.run(document)")
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["html"] for n in v["nodes"]][:3]}
        for v in result["violations"]
        if v.get("impact") in SERIOUS
    ]


def assert_accessible(page: Page) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}: {violations}"
