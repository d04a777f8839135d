"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Say here what the revision changes, and why ``online_safe`` is what it is.
Downgrade: say what it does, or why it raises.
"""

from alembic import op

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}
#: True only when the revision adds (tables, nullable columns, indexes that build fast)
#: and runs in one transaction: then opening a store applies it while others use it.
online_safe = False


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        ...
    else:  # postgresql
        ...


def downgrade() -> None:
    raise NotImplementedError("say why, or write it")
