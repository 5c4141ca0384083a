"""products: rows fetched by live product sources (source, fetched_at, image_url, url)

Revision ID: 0009_product_sources
Revises: 0007_reaction_states
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0009_product_sources'
down_revision = '0008_pending_orders'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('products') as batch:
        batch.add_column(sa.Column('source', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('fetched_at', sa.Float(), nullable=True))
        batch.add_column(sa.Column('image_url', sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column('url', sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('products') as batch:
        batch.drop_column('url')
        batch.drop_column('image_url')
        batch.drop_column('fetched_at')
        batch.drop_column('source')
