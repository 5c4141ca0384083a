"""cart_items: where a line's product lives (url), its image, and when its price was fetched

Revision ID: 0010_shop
Revises: 0009_product_sources
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0010_shop'
down_revision = '0009_product_sources'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cart_items') as batch:
        batch.add_column(sa.Column('url', sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column('image_url', sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column('priced_at', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cart_items') as batch:
        batch.drop_column('priced_at')
        batch.drop_column('image_url')
        batch.drop_column('url')
