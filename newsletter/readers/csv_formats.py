"""Reading subscriber CSV files as people export them: the encoding, the layout (Mailchimp, Substack,
Ghost, a plain ``email,name`` file, or no header at all) and each record mapped to an address and a name.

Nothing here touches the database; ``importer.py`` decides what happens to each mapped row.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NamedTuple

from newsletter.errors import InvalidInput
from newsletter.readers.addresses import MAX_NAME, InvalidAddress, clean_name, normalise_email

READ_BLOCK = 1 << 20
EMAIL_COLUMNS = ("email", "email address", "e-mail", "e-mail address", "email_address", "mail")
NAME_COLUMNS = ("name", "full name", "full_name")
FIRST_NAME = ("first name", "first_name", "firstname", "fname")
LAST_NAME = ("last name", "last_name", "lastname", "lname")
TRUE = {"true", "t", "1", "yes", "y"}
FALSE = {"false", "f", "0", "no", "n"}
# A plain ASCII dot-atom address: the common case, checked without email-validator's full pass
# (its domain checks are cached per domain instead); anything else goes through email-validator.
SIMPLE_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9.-]+)")

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a quote in front."""
    return "'" + value if value.startswith(FORMULA_START) else value


class ImportFileError(InvalidInput):
    """The file as a whole cannot be read as a subscriber CSV; the message says why."""


@dataclass(frozen=True)
class Encoding:
    codec: str  # for open()
    label: str  # for the report
    note: str | None = None  # said in the report when the file was not plain UTF-8


def _byte_line(path: Path, offset: int) -> int:
    """The 1-based line of the byte at ``offset``."""
    lines, seen = 1, 0
    with path.open("rb") as handle:
        while seen < offset:
            block = handle.read(min(READ_BLOCK, offset - seen))
            if not block:
                break
            lines += block.count(b"\n")
            seen += len(block)
    return lines


def _first_error(path: Path, codec: str) -> tuple[int, UnicodeDecodeError] | None:
    """Decode the whole file a block at a time with a strict decoder: where it first fails, if it does."""
    decoder = codecs.getincrementaldecoder(codec)("strict")
    done = 0
    with path.open("rb") as handle:
        while True:
            block = handle.read(READ_BLOCK)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                return done + error.start, error
            if not block:
                return None
            done += len(block)


def detect_encoding(path: Path) -> Encoding:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, else Windows-1252 with a note; never drops bytes."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise ImportFileError(f"cannot open {path.name}: {exc.strerror}") from exc
    if head.startswith(codecs.BOM_UTF8):
        codec, label = "utf-8-sig", "UTF-8 (with BOM)"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec, label = "utf-16", "UTF-16"
    elif b"\x00" in head:
        raise ImportFileError("the file holds NUL bytes: it looks like UTF-16 without a byte-order mark; "
                              "save it as CSV UTF-8 and try again")
    else:
        codec, label = "utf-8", "UTF-8"
    failure = _first_error(path, codec)
    if failure is None:
        return Encoding(codec, label)
    offset, error = failure
    if codec != "utf-8":
        raise ImportFileError(f"the file says it is {label} but byte {offset} (line {_byte_line(path, offset)}) "
                              f"is not: {error.reason}")
    if _first_error(path, "cp1252") is not None:
        raise ImportFileError(f"the file is neither UTF-8 nor Windows-1252 (first bad byte at line "
                              f"{_byte_line(path, offset)}); save it as CSV UTF-8 and try again")
    return Encoding("cp1252", "Windows-1252", f"the file is not UTF-8 (first non-UTF-8 byte on line "
                                              f"{_byte_line(path, offset)}); it was read as Windows-1252: "
                                              f"check accented names in the preview")


class MappedRow(NamedTuple):  # a tuple: a million of them are made, one at a time
    row: int  # as a spreadsheet numbers it: the header is row 1
    email: str  # as written in the file
    name: str
    skip: str | None = None  # the source says not to mail them: not imported, with this reason
    suppress: str | None = None  # unsubscribed or cleaned at the source: onto the suppression list
    tags: str = ""  # the ``tags`` cell as written ("a, b; c")
    fields: tuple[tuple[str, str], ...] = ()  # (field key, cell) for columns named after a defined field


Rule = Callable[[list[str]], str | None]


@dataclass(frozen=True)
class Layout:
    key: str  # mailchimp, substack, ghost, plain, headerless
    label: str
    has_header: bool
    email_at: int
    name_at: tuple[int, ...]  # joined with a space: Mailchimp's first and last name
    mapping: dict[str, str]  # what each field is read from, for the preview
    skip: tuple[Rule, ...] = ()
    suppress: tuple[Rule, ...] = ()
    notes: tuple[str, ...] = ()
    tags_at: int | None = None
    fields_at: tuple[tuple[str, int], ...] = ()  # (field key, column)

    def map(self, row: int, record: list[str]) -> MappedRow:
        size = len(record)
        email = record[self.email_at] if self.email_at < size else ""
        name = " ".join([record[i] for i in self.name_at if i < size])
        if name:
            # clean_name looks at every character; most names are printable already.
            name = " ".join(name.split())[:MAX_NAME] if name.isprintable() else clean_name(name)
        skip = suppress = None
        for rule in self.skip:
            skip = skip or rule(record)
        for rule in self.suppress:
            suppress = suppress or rule(record)
        tags = record[self.tags_at] if self.tags_at is not None and self.tags_at < size else ""
        fields = tuple((key, record[i]) for key, i in self.fields_at if i < size and record[i].strip())
        return MappedRow(row, email.strip(), name, skip, suppress, tags, fields)


def _cell(record: list[str], at: int) -> str:
    return record[at].strip().lower() if at < len(record) else ""


def _when_filled(at: int, reason: str) -> Rule:
    return lambda record: reason if _cell(record, at) else None


def _when_in(at: int, values: set[str], reason: str) -> Rule:
    return lambda record: reason if _cell(record, at) in values else None


def detect_layout(header: list[str], field_keys: Collection[str] = ()) -> Layout | None:
    """The layout a header row names, or None when the row is not a header we know.

    A ``tags`` column is read as tags; a column whose header is a defined field's key
    (``field_keys``, any case) as that field.
    """
    names = [h.strip().lstrip("\ufeff").strip().lower() for h in header]

    def at(*options: str) -> int | None:
        return next((names.index(o) for o in options if o in names), None)

    def shown(i: int) -> str:
        return f"{header[i].strip()} (column {i + 1})"

    email_at = at(*EMAIL_COLUMNS)
    if email_at is None:
        return None
    first, last, full = at(*FIRST_NAME), at(*LAST_NAME), at(*NAME_COLUMNS)
    name_at = (full,) if full is not None else tuple(i for i in (first, last) if i is not None)
    mapping = {"email": shown(email_at), "name": " + ".join(shown(i) for i in name_at) or "(none)"}
    skip: list[Rule] = []
    suppress: list[Rule] = []
    if "subscribed_to_emails" in names:
        key, label = "ghost", "Ghost members export"
        subscribed = names.index("subscribed_to_emails")
        skip.append(_when_in(subscribed, FALSE, "not subscribed to emails in Ghost"))
        mapping["skipped"] = f"{shown(subscribed)} is false"
        if (deleted := at("deleted_at")) is not None:
            skip.append(_when_filled(deleted, "deleted in Ghost"))
    elif "email_disabled" in names or "active_subscription" in names:
        key, label = "substack", "Substack subscriber export"
        if (disabled := at("email_disabled")) is not None:
            skip.append(_when_in(disabled, TRUE, "email disabled in Substack"))
            mapping["skipped"] = f"{shown(disabled)} is true"
    elif names[email_at] == "email address" and {"member_rating", "optin_time", "leid", "euid"} & set(names):
        key, label = "mailchimp", "Mailchimp audience export"
        rules = []
        if (unsub := at("unsub_time")) is not None:
            suppress.append(_when_filled(unsub, "unsubscribed in Mailchimp: goes onto the suppression list"))
            rules.append(shown(unsub))
        if (clean := at("clean_time")) is not None:
            suppress.append(_when_filled(clean, "cleaned (bounced) in Mailchimp: goes onto the suppression list"))
            rules.append(shown(clean))
        if rules:
            label = "Mailchimp audience export (unsubscribed or cleaned)"
            mapping["suppressed"] = " or ".join(rules) + " is filled in"
    else:
        key, label = "plain", "CSV with an email column"
    tags_at = at("tags")
    if tags_at is not None:
        mapping["tags"] = shown(tags_at)
    used = {email_at, *name_at, *([tags_at] if tags_at is not None else [])}
    fields_at = tuple((n, i) for i, n in enumerate(names) if n in field_keys and i not in used)
    for field_key, i in fields_at:
        mapping[f"field {field_key}"] = shown(i)
    notes: tuple[str, ...] = ()
    others = [header[i].strip() for i in range(len(names)) if i not in used and names[i] not in field_keys and names[i]]
    if key == "plain" and others:
        # Only for a plain file: an export from a provider has many columns of its own to leave.
        notes = (f"not imported (no field has that key; `newsletter fields create` defines one): "
                 f"{', '.join(others[:10])}{' ...' if len(others) > 10 else ''}",)
    return Layout(key, label, True, email_at, name_at, mapping, tuple(skip), tuple(suppress), notes, tags_at, fields_at)


def _headerless(first: list[str]) -> Layout | None:
    """A first row that holds an address: the file has no header; the address column and the next."""
    for i, cell in enumerate(first):
        if "@" in cell:
            try:
                normalise_email(cell)
            except InvalidAddress:
                continue
            name_at = (i + 1,) if i + 1 < len(first) else ()
            mapping = {"email": f"column {i + 1}", "name": f"column {i + 2}" if name_at else "(none)"}
            note = (f"the file has no header row (row 1 holds an address): column {i + 1} is read as the address"
                    + (f" and column {i + 2} as the name" if name_at else ""))
            return Layout("headerless", "CSV without a header", False, i, name_at, mapping, notes=(note,))
    return None


@dataclass
class CsvSource:
    """An open subscriber CSV: its encoding, layout and mapped rows, streamed (the file is never held whole)."""

    path: Path
    encoding: Encoding
    layout: Layout
    size: int
    _handle: IO[bytes]
    _text: io.TextIOWrapper
    _reader: Iterator[list[str]]
    _first: list[str] | None
    _header_at: int
    notes: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, path: Path, field_keys: Collection[str] = ()) -> CsvSource:
        encoding = detect_encoding(path)
        handle = path.open("rb")
        text = io.TextIOWrapper(handle, encoding=encoding.codec, newline="")
        reader = csv.reader(text)
        try:
            first, first_at = None, 0
            for record in reader:
                first_at += 1
                if any(c.strip() for c in record):
                    first = record
                    break
            if first is None:
                raise ImportFileError("the file is empty: no header and no rows")
            layout = detect_layout(first, field_keys)
            pending: list[str] | None = None
            if layout is None:
                layout = _headerless(first)
                pending = first
            if layout is None:
                found = ", ".join(repr(h.strip()) for h in first[:8] if h.strip()) or "nothing"
                raise ImportFileError(f"no email column: row 1 holds {found}; name a column 'email' (or 'Email "
                                      f"Address'), or start the file with an address")
        except (csv.Error, UnicodeDecodeError) as exc:
            text.close()
            raise ImportFileError(f"row 1 cannot be read as CSV: {exc}") from exc
        except ImportFileError:
            text.close()
            raise
        notes = ([encoding.note] if encoding.note else []) + list(layout.notes)
        return cls(path, encoding, layout, path.stat().st_size, handle, text, reader, pending, first_at, notes)

    def rows(self) -> Iterator[MappedRow]:
        """Each non-blank record, mapped, numbered as a spreadsheet numbers rows (blank ones count).

        Raises csv.Error for a record that cannot be parsed; ``reader.line_num`` counts physical
        lines, which quoted newlines make differ from rows, so rows are counted here.
        """
        row = self._header_at  # blank lines above it are rows in a spreadsheet too
        if self._first is not None:
            yield self.layout.map(row, self._first)
        for record in self._reader:
            row += 1
            if "".join(record).strip():
                yield self.layout.map(row, record)

    def bytes_read(self) -> int:
        return self._handle.tell() if not self._handle.closed else self.size

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> CsvSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AddressCheck:
    """``normalise_email`` for many rows: a plain ASCII address has its domain checked once per
    domain (email-validator's full pass costs ~0.2 ms, which is 200 s for a million rows); every
    other address, and every domain the cache has not seen pass, goes through email-validator."""

    def __init__(self, cache_size: int = 50_000) -> None:
        self._domains: dict[str, str] = {}
        self._cache_size = cache_size

    def normalise(self, raw: str) -> str:
        text = raw.strip()
        match = SIMPLE_ADDRESS.fullmatch(text)
        if match is None or len(text) > 254 or text.index("@") > 64:
            return normalise_email(raw)
        domain = match.group(1).lower()
        known = self._domains.get(domain)
        if known is None:
            known = normalise_email(text).rpartition("@")[2]  # raises with email-validator's own reason
            if len(self._domains) < self._cache_size:
                self._domains[domain] = known
        return f"{text[: match.start(1) - 1].lower()}@{known}"
