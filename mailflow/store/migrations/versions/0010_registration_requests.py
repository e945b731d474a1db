"""registration requests: the form as read, the certificate's message, the proposed liaison, the decision time

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registration") as batch:
        batch.add_column(sa.Column("form", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch.add_column(sa.Column("certificate_inbound_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("liaison_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            "fk_registration_certificate_inbound", "inbound_message", ["certificate_inbound_id"], ["id"]
        )
        batch.create_foreign_key("fk_registration_liaison", "liaison", ["liaison_id"], ["id"])
    # Registrations made before this revision were complete when made (or were decided since).
    op.execute("UPDATE registration SET certificate_inbound_id = inbound_id")


def downgrade() -> None:
    with op.batch_alter_table("registration") as batch:
        batch.drop_constraint("fk_registration_liaison", type_="foreignkey")
        batch.drop_constraint("fk_registration_certificate_inbound", type_="foreignkey")
        batch.drop_column("decided_at")
        batch.drop_column("liaison_id")
        batch.drop_column("certificate_inbound_id")
        batch.drop_column("form")
