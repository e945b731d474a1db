"""member registry: units' class and leader phone, liaisons' dates, and the history of every change

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("unit") as batch:
        batch.add_column(sa.Column("leader_phone", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True))
        batch.add_column(sa.Column("member_class", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True))
    with op.batch_alter_table("liaison") as batch:
        batch.add_column(sa.Column("started_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("ended_on", sa.Date(), nullable=True))
    op.create_table(
        "change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("old", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("new", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("why", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.ForeignKeyConstraint(["audit_id"], ["audit_entry.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_change_subject_id", "change", ["subject_id"])
    op.create_index("ix_change_unit_id", "change", ["unit_id"])


def downgrade() -> None:
    op.drop_table("change")
    with op.batch_alter_table("liaison") as batch:
        batch.drop_column("ended_on")
        batch.drop_column("started_on")
    with op.batch_alter_table("unit") as batch:
        batch.drop_column("member_class")
        batch.drop_column("leader_phone")
