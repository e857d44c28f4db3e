"""deliveries become an inbox: triage state, lease, compressed body; recovery tables

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        # Rows written before the inbox were decided in their request.
        batch_op.add_column(
            sa.Column("state", sa.String(length=20), nullable=False, server_default="decided")
        )
        batch_op.alter_column("outcome", existing_type=sa.String(length=40), nullable=True)
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("run_after", sa.Float(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("lease_expires_at", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("fencing_token", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("decided_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("body", sa.LargeBinary(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_deliveries_state_run_after"), ["state", "run_after"], unique=False
        )
    op.create_table(
        "delivery_recoveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guid", sa.String(length=100), nullable=False),
        sa.Column("hook_delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_recoveries")),
    )
    with op.batch_alter_table("delivery_recoveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_recoveries_guid"), ["guid"], unique=False)
    op.create_table(
        "recovery_watermarks",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("hook_delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_recovery_watermarks")),
    )


def downgrade() -> None:
    op.drop_table("recovery_watermarks")
    with op.batch_alter_table("delivery_recoveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_recoveries_guid"))
    op.drop_table("delivery_recoveries")
    op.execute("UPDATE deliveries SET outcome = state WHERE outcome IS NULL")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_state_run_after"))
        for column in (
            "body",
            "decided_at",
            "last_error",
            "fencing_token",
            "lease_expires_at",
            "lease_owner",
            "run_after",
            "attempts",
            "state",
        ):
            batch_op.drop_column(column)
        batch_op.alter_column("outcome", existing_type=sa.String(length=40), nullable=False)
