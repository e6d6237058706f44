"""SQLite (stdlib ``sqlite3``), the embedded default: the backend and both stores on one file."""

from .backend import SQLiteBackend
from .file import SQLiteFile
from .stores import SQLiteOneTimeStore, SQLiteRefreshStore, SQLiteThrottleStore

__all__ = [
    "SQLiteBackend",
    "SQLiteFile",
    "SQLiteOneTimeStore",
    "SQLiteRefreshStore",
    "SQLiteThrottleStore",
]
