"""The cart backend: SQLAlchemy tables, engine set-up, migrations and the queries on top."""

from hashcart.store.db import create_engine, dialect_insert, is_outage, is_postgres, one_of
from hashcart.store.migrate import upgrade

__all__ = ["create_engine", "dialect_insert", "is_outage", "is_postgres", "one_of", "upgrade"]
