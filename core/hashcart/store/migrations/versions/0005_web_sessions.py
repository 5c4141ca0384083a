"""web sessions: a session version per account, sign-in attempt limits

Revision ID: 0005_web_sessions
Revises: 0007_reaction_states
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0005_web_sessions'
down_revision = '0007_reaction_states'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('accounts') as batch:
        batch.add_column(
            sa.Column('session_version', sa.Integer(), nullable=False, server_default='0')
        )
    op.create_table('web_signin_limits',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('window_start', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('next_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_web_signin_limits'))
    )


def downgrade() -> None:
    op.drop_table('web_signin_limits')
    with op.batch_alter_table('accounts') as batch:
        batch.drop_column('session_version')
