"""address suppression: when mail to a bounced address stopped, until when, and its soft bounces

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("address_flag", sa.Column("suppressed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("address_flag", sa.Column("suppressed_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "address_flag", sa.Column("soft_bounces_at", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
    )
    # Every flag so far came from a permanent bounce: those addresses stay unmailed.
    op.execute("UPDATE address_flag SET suppressed_at = COALESCE(last_at, first_at)")


def downgrade() -> None:
    op.drop_column("address_flag", "soft_bounces_at")
    op.drop_column("address_flag", "suppressed_until")
    op.drop_column("address_flag", "suppressed_at")
