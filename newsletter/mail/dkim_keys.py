"""DKIM keys: generate a key pair (file + DNS TXT record) and load the configured signing keys.

Key files: RSA as PEM (PKCS#8); Ed25519 as the base64 raw 32-byte seed, the form dkimpy's
``dkim.sign`` and its ``dknewkey`` use (PEM PKCS#8 Ed25519 keys are read as well).
``NEWSLETTER_DKIM_KEYS`` names them as ``selector=path`` pairs, comma-separated; an RSA and an
Ed25519 key may be configured together (RFC 8463: each message then carries two signatures).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from newsletter.errors import InvalidInput

KeyType = Literal["rsa", "ed25519"]
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
_SELECTOR = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?)*$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$")


class DkimKeyError(InvalidInput):
    """A DKIM key cannot be generated, read or parsed; the message says which and why."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    selector: str
    kind: KeyType
    key: PrivateKey
    path: Path


def check_selector(selector: str) -> str:
    if not _SELECTOR.match(selector):
        raise DkimKeyError(f"not a DKIM selector: {selector!r} (letters, digits, '-', '_', dots)")
    return selector


def check_domain(domain: str) -> str:
    ascii_domain = domain.strip().rstrip(".")
    try:
        ascii_domain = ascii_domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise DkimKeyError(f"not a DKIM signing domain: {domain!r}") from exc
    if not _DOMAIN.match(ascii_domain):
        raise DkimKeyError(f"not a DKIM signing domain: {domain!r}")
    return ascii_domain.lower()


def parse_key_list(value: str) -> list[tuple[str, Path]]:
    """``s1=/path/a.key,s2=/path/b.key`` as [(selector, path)]; raises DkimKeyError if malformed."""
    pairs: list[tuple[str, Path]] = []
    for item in value.split(","):
        if not item.strip():
            continue
        selector, sep, path = item.partition("=")
        if not sep or not path.strip():
            raise DkimKeyError(f"dkim_keys entries are selector=path, got {item.strip()!r}")
        pairs.append((check_selector(selector.strip()), Path(path.strip()).expanduser()))
    if len({s for s, _ in pairs}) != len(pairs):
        raise DkimKeyError("dkim_keys names a selector twice")
    return pairs


def public_record(key: PrivateKey) -> str:
    """The DNS TXT record of a key: ``v=DKIM1; k=rsa|ed25519; p=...``."""
    if isinstance(key, rsa.RSAPrivateKey):
        der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode('ascii')}"


def private_bytes(key: PrivateKey) -> bytes:
    """The key file's content: PEM PKCS#8 for RSA, base64 raw seed (dkimpy's form) for Ed25519."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    return base64.b64encode(seed) + b"\n"


def generate(kind: KeyType, bits: int = 2048) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise DkimKeyError(f"unknown DKIM key type {kind!r} (rsa or ed25519)")


def write_key(key: PrivateKey, directory: Path, selector: str, *, overwrite: bool = False) -> Path:
    """Write ``directory/selector.key`` readable by its owner only; refuses to replace a key."""
    check_selector(selector)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{selector}.key"
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError as exc:
        raise DkimKeyError(f"{path} exists already: choose another selector or remove it") from exc
    except OSError as exc:
        raise DkimKeyError(f"cannot write DKIM key {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as out:
        out.write(private_bytes(key))
    return path


def parse_key(data: bytes, where: str = "key") -> tuple[KeyType, PrivateKey]:
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text, password=None)
        except (ValueError, TypeError) as exc:
            raise DkimKeyError(f"DKIM {where}: not a readable unencrypted PEM private key ({exc})") from exc
        if isinstance(key, rsa.RSAPrivateKey):
            if key.key_size < 1024:
                raise DkimKeyError(f"DKIM {where}: RSA key of {key.key_size} bits is too short (verifiers reject it)")
            return "rsa", key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return "ed25519", key
        raise DkimKeyError(f"DKIM {where}: only RSA and Ed25519 keys can sign")
    try:
        seed = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DkimKeyError(f"DKIM {where}: neither PEM nor a base64 Ed25519 seed") from exc
    if len(seed) != 32:
        raise DkimKeyError(f"DKIM {where}: an Ed25519 seed is 32 bytes, this one {len(seed)}")
    return "ed25519", ed25519.Ed25519PrivateKey.from_private_bytes(seed)


def load_key(selector: str, path: Path) -> SigningKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DkimKeyError(f"cannot read DKIM key {path} (selector {selector}): {exc.strerror}") from exc
    kind, key = parse_key(data, f"key {path}")
    return SigningKey(selector, kind, key, path)


def load_keys(value: str) -> list[SigningKey]:
    return [load_key(selector, path) for selector, path in parse_key_list(value)]
