"""command_states: events that are states (a reaction standing on a message), one row each

Revision ID: 0007_reaction_states
Revises: 0004
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0007_reaction_states'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('command_states',
    sa.Column('state_key', sa.String(length=200), nullable=False),
    sa.Column('present', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('state_key', name=op.f('pk_command_states'))
    )
    op.create_index(op.f('ix_command_states_updated_at'), 'command_states', ['updated_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_command_states_updated_at'), table_name='command_states')
    op.drop_table('command_states')
