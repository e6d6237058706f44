"""SQLAlchemy (the ``sqlalchemy`` extra; ``postgres`` and ``mysql`` add the drivers): the table
backend and the three stores, sync or async by the engine given."""

from .backend import SQLAlchemyBackend
from .refresh import SQLAlchemyRefreshStore
from .schema import store_metadata
from .stores import SQLAlchemyOneTimeStore, SQLAlchemyThrottleStore, sqlalchemy_stores

__all__ = [
    "SQLAlchemyBackend",
    "SQLAlchemyOneTimeStore",
    "SQLAlchemyRefreshStore",
    "SQLAlchemyThrottleStore",
    "sqlalchemy_stores",
    "store_metadata",
]
