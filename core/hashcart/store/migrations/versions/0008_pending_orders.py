"""orders are placed after the confirming transaction: pending, placed or refused

Revision ID: 0008_pending_orders
Revises: 0007_reaction_states
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0008_pending_orders'
down_revision = '0005_web_sessions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=12), server_default='placed', nullable=False))
        batch_op.add_column(sa.Column('command', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_attempt_at', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('last_error', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('settled_at', sa.Float(), nullable=True))
        batch_op.create_index('ix_orders_due', ['status', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_due')
        batch_op.drop_column('settled_at')
        batch_op.drop_column('last_error')
        batch_op.drop_column('lease_until')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('attempts')
        batch_op.drop_column('command')
        batch_op.drop_column('status')
