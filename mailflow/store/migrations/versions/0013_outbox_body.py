"""outbox bodies: the text of a letter sent to many is stored once, and its rows name it

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_body",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("html", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # Rows queued before keep their own text; only letters queued from now on share one.
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("body_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_outbox_body_id_outbox_body", "outbox_body", ["body_id"], ["id"])


def downgrade() -> None:
    bodies = sa.table("outbox_body", sa.column("id"), sa.column("text"), sa.column("html"))
    outbox = sa.table("outbox", sa.column("body_id"), sa.column("text"), sa.column("html"))
    shared = sa.select(bodies.c.text).where(bodies.c.id == outbox.c.body_id).scalar_subquery()
    html = sa.select(bodies.c.html).where(bodies.c.id == outbox.c.body_id).scalar_subquery()
    op.execute(outbox.update().where(outbox.c.body_id.is_not(None)).values(text=shared, html=html))
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("fk_outbox_body_id_outbox_body", type_="foreignkey")
        batch.drop_column("body_id")
    op.drop_table("outbox_body")
