"""accounts: the language a person chose for their answers

Revision ID: 0011_account_language
Revises: 0010_shop
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0011_account_language'
down_revision = '0010_shop'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('accounts') as batch:
        batch.add_column(sa.Column('language', sa.String(length=35), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('accounts') as batch:
        batch.drop_column('language')
