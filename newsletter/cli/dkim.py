"""`newsletter dkim keygen`: a DKIM key pair, the key file and the DNS TXT record to publish."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli.common import JsonFlag, emit

if TYPE_CHECKING:  # domain modules are imported inside the commands, so `newsletter --help` starts fast
    from newsletter.mail.dkim_keys import KeyType

dkim_app = typer.Typer(help="DKIM signing keys.", no_args_is_help=True)


@dkim_app.command("keygen")
def keygen(
    domain: Annotated[str, typer.Option("--domain", help="The signing domain (d=), e.g. example.org.")],
    selector: Annotated[str, typer.Option("--selector", help="The selector (s=), e.g. 2026a.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for SELECTOR.key (created, mode 0600).")],
    key_type: Annotated[str, typer.Option("--type", help="rsa (2048 bits) or ed25519.")] = "rsa",
    as_json: JsonFlag = False,
) -> None:
    """Write OUT/SELECTOR.key and print the TXT record to publish at SELECTOR._domainkey.DOMAIN (last line)."""
    from newsletter.mail.dkim_keys import check_domain, check_selector, generate, public_record, write_key

    if key_type not in ("rsa", "ed25519"):
        raise ValueError(f"--type must be rsa or ed25519, not {key_type!r}")
    kind: KeyType = "rsa" if key_type == "rsa" else "ed25519"
    name = f"{check_selector(selector)}._domainkey.{check_domain(domain)}"
    key = generate(kind)
    path = write_key(key, out, selector)
    record = public_record(key)
    text = "\n".join([
        f"key      {path}",
        f"setting  NEWSLETTER_DKIM_DOMAIN={check_domain(domain)} NEWSLETTER_DKIM_KEYS={selector}={path.resolve()}",
        "publish this TXT record (long records may need splitting into 255-byte strings):",
        f"name     {name}",
        record,
    ])
    emit(as_json, {"key_file": str(path), "type": kind, "selector": selector, "domain": check_domain(domain),
                   "name": name, "record": record}, text)
