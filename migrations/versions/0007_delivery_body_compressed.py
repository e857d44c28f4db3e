"""deliveries.body_compressed: a body may be stored raw until triage settles the delivery
(intake on PostgreSQL), and is compressed from then on

Rows written before this revision hold zlib-compressed bodies (true). On PostgreSQL the body
column's storage becomes EXTERNAL: a large value goes out of line without the server's own
compression (pglz), which would otherwise run on every raw body intake writes and again,
in vain, on every zlib-compressed one. On the way down, the bodies still stored raw are
compressed first, so that the older code, which only reads compressed bodies, reads every
row.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import zlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store import dialect as dialects

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("body_compressed", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    storage = dialects.of(op.get_bind()).column_storage("deliveries", "body", "EXTERNAL")
    if storage is not None:  # PostgreSQL
        op.execute(storage)


def downgrade() -> None:
    deliveries = sa.table(
        "deliveries",
        sa.column("id", sa.Integer()),
        sa.column("body", sa.LargeBinary()),
        sa.column("body_compressed", sa.Boolean()),
    )
    bind = op.get_bind()
    raw = bind.execute(
        sa.select(deliveries.c.id, deliveries.c.body).where(
            deliveries.c.body_compressed.is_(sa.false()), deliveries.c.body.is_not(None)
        )
    ).all()
    for row_id, body in raw:
        bind.execute(
            deliveries.update()
            .where(deliveries.c.id == row_id)
            .values(body=zlib.compress(body, 1), body_compressed=True)
        )
    storage = dialects.of(bind).column_storage("deliveries", "body", "EXTENDED")
    if storage is not None:  # PostgreSQL
        op.execute(storage)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("body_compressed")
