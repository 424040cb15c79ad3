"""An import's memory of the addresses met earlier in the file, for duplicate rows."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path


class SeenAddresses:
    """Addresses met earlier in the file and their rows, in a temporary SQLite file rather than a
    dict, so a million-row file keeps memory flat."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="newsletter-import-")
        self._db = sqlite3.connect(Path(self._dir.name) / "seen.db")
        self._db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                               "CREATE TABLE seen (email TEXT PRIMARY KEY, row INTEGER) WITHOUT ROWID;")

    def first_rows(self, chunk: list[tuple[int, str]]) -> dict[int, int]:
        """For each (row, email) seen before (in the file or this chunk): row -> the first row with it."""
        # One JSON parameter per statement: no thousand-placeholder statements to prepare.
        found = self._db.execute("SELECT email, row FROM seen WHERE email IN (SELECT value FROM json_each(?))",
                                 (json.dumps([email for _, email in chunk]),))
        earlier: dict[str, int] = dict(found.fetchall())
        dups: dict[int, int] = {}
        new: list[tuple[str, int]] = []
        for row, email in chunk:
            if email in earlier:
                dups[row] = earlier[email]
            else:
                earlier[email] = row
                new.append((email, row))
        self._db.execute("INSERT INTO seen SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') "
                         "FROM json_each(?)", (json.dumps(new),))
        return dups

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()
