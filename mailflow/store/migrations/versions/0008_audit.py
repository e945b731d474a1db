"""audit: every command, from mail or the command line, with its actor, message, record and result

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("via", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("inbound_id", sa.Integer(), nullable=True),
        sa.Column("command", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("line", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("record", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("result", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound_message.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_entry_actor", "audit_entry", ["actor"])
    op.create_index("ix_audit_entry_inbound_id", "audit_entry", ["inbound_id"])
    op.create_index("ix_audit_entry_record", "audit_entry", ["record"])


def downgrade() -> None:
    op.drop_table("audit_entry")
