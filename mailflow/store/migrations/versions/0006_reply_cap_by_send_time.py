"""the hourly reply limit counts replies by when they go, not when they were queued

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_outbox_recent_replies", table_name="outbox")
    op.create_index("ix_outbox_recent_replies", "outbox", ["auto_submitted", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_recent_replies", table_name="outbox")
    op.create_index("ix_outbox_recent_replies", "outbox", ["auto_submitted", "created_at"])
