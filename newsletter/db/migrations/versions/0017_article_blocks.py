"""articles get a structured body (typed blocks) and keep the Markdown their writer typed

Every existing article's paragraphs and pull quotes become blocks, the pull quotes where the
e-mail showed them (spread evenly between the paragraphs). The old columns stay, as the plain
text of the body. The conversion is written out here, not imported, so it never changes after
this revision.

Revision ID: 0017
Revises: 0016
"""
import html
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BATCH = 1000

_article = sa.table(
    "article",
    sa.column("id", sa.Integer),
    sa.column("paragraphs", sa.JSON),
    sa.column("pull_quotes", sa.JSON),
    sa.column("body", sa.JSON),
)


def _blocks(paragraphs: Any, pull_quotes: Any) -> list[dict[str, str]]:
    paras = [" ".join(p.split()) for p in paragraphs or [] if isinstance(p, str) and p.strip()]
    pulls = [" ".join(q.split()) for q in pull_quotes or [] if isinstance(q, str) and q.strip()]
    after: dict[int, list[str]] = {}
    for i, quote in enumerate(pulls):
        at = round((i + 1) * len(paras) / (len(pulls) + 1))
        after.setdefault(min(max(at, 1), len(paras)) if paras else 0, []).append(quote)
    body = [{"kind": "pull_quote", "text": q} for q in after.get(0, [])]
    for n, text in enumerate(paras, start=1):
        body.append({"kind": "paragraph", "html": html.escape(text, quote=False)})
        body.extend({"kind": "pull_quote", "text": q} for q in after.get(n, []))
    return body


def upgrade() -> None:
    # Plain ADD COLUMN with defaults: no rebuild of the article table.
    op.add_column("article", sa.Column("body", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
    op.add_column("article", sa.Column("body_markdown", sa.Text(), server_default="", nullable=False))
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.select(_article.c.id, _article.c.paragraphs, _article.c.pull_quotes)
            .where(_article.c.id > last).order_by(_article.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        conn.execute(
            _article.update().where(_article.c.id == sa.bindparam("row_id")).values(body=sa.bindparam("new_body")),
            [{"row_id": row.id, "new_body": _blocks(row.paragraphs, row.pull_quotes)} for row in rows],
        )
        last = rows[-1].id


def downgrade() -> None:
    # The old columns were kept up to date as the body's plain text: nothing else to restore.
    op.drop_column("article", "body_markdown")
    op.drop_column("article", "body")
