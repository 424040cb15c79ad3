"""The PostgreSQL database each benchmark starts from: dropped and created afresh."""

from __future__ import annotations

from sqlalchemy import create_engine, text

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


def fresh_postgres(name: str) -> str:
    """An empty database ``name`` on the local server (any earlier one dropped); its URL."""
    admin = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{SERVER}/{name}"
