"""submissions screened and versioned, and requests for information with their recipients

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "info_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", String(length=40), nullable=False),
        sa.Column("inbound_id", sa.Integer(), nullable=True),
        sa.Column("title", String(), nullable=False),
        sa.Column("text", String(), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("units", sa.JSON(), nullable=False),
        sa.Column("sender", String(length=320), nullable=False),
        sa.Column("via", String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("letters", sa.Integer(), nullable=False),
        sa.Column("unreached", sa.JSON(), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound_message.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("inbound_id"),
        sa.UniqueConstraint("reference"),
    )
    # Submissions received before stay `received`, at version 1, with the mail that opened them.
    with op.batch_alter_table("submission") as batch:
        batch.add_column(sa.Column("state", String(length=20), nullable=False, server_default="received"))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("latest_inbound_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("event_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("late_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("review", String(length=20), nullable=False, server_default=""))
        batch.add_column(sa.Column("outlets", String(length=20), nullable=True))
        batch.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("decided_by", String(length=320), nullable=True))
        batch.add_column(sa.Column("decision_note", String(), nullable=False, server_default=""))
        batch.add_column(sa.Column("request_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_submission_latest_inbound_id_inbound_message", "inbound_message", ["latest_inbound_id"], ["id"]
        )
        batch.create_foreign_key("fk_submission_request_id_info_request", "info_request", ["request_id"], ["id"])
        batch.create_index("ix_submission_state", ["state"])
    submission = sa.table("submission", sa.column("created_at"), sa.column("updated_at"))
    op.execute(submission.update().values(updated_at=submission.c.created_at))
    op.create_table(
        "submission_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("inbound_id", sa.Integer(), nullable=False),
        sa.Column("title", String(), nullable=False),
        sa.Column("text", String(), nullable=False),
        sa.Column("photo_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound_message.id"]),
        sa.ForeignKeyConstraint(["submission_id"], ["submission.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("inbound_id"),
        sa.UniqueConstraint("submission_id", "version"),
    )
    op.create_index("ix_submission_version_submission_id", "submission_version", ["submission_id"])
    op.execute(
        "INSERT INTO submission_version (submission_id, version, inbound_id, title, text, photo_count, created_at) "
        "SELECT id, 1, inbound_id, title, text, photo_count, created_at FROM submission"
    )
    op.create_table(
        "request_recipient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("liaison_id", sa.Integer(), nullable=True),
        sa.Column("email", String(length=320), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_inbound_id", sa.Integer(), nullable=True),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("missed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["answer_inbound_id"], ["inbound_message.id"]),
        sa.ForeignKeyConstraint(["liaison_id"], ["liaison.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["info_request.id"]),
        sa.ForeignKeyConstraint(["submission_id"], ["submission.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "unit_id"),
    )
    for column in ("request_id", "unit_id", "liaison_id"):
        op.create_index(f"ix_request_recipient_{column}", "request_recipient", [column])


def downgrade() -> None:
    op.drop_table("request_recipient")
    op.drop_table("submission_version")
    with op.batch_alter_table("submission") as batch:
        batch.drop_index("ix_submission_state")
        batch.drop_constraint("fk_submission_request_id_info_request", type_="foreignkey")
        batch.drop_constraint("fk_submission_latest_inbound_id_inbound_message", type_="foreignkey")
        for column in (
            "request_id", "decision_note", "decided_by", "decided_at", "outlets", "review", "urgent",
            "late_days", "event_date", "updated_at", "latest_inbound_id", "version", "state",
        ):  # fmt: skip
            batch.drop_column(column)
    op.drop_table("info_request")
