"""Alembic environment: the engine is handed in by newsletter.db.engine.migrate, never read from a file."""

from alembic import context

from newsletter.db.schema import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
