"""Alembic environment: runs migrations on the engine the application hands in."""

from alembic import context
from sqlmodel import SQLModel

import mailflow.store  # noqa: F401  (registers every table on SQLModel.metadata)

target_metadata = SQLModel.metadata
engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
