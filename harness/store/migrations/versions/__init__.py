"""Revisions, one file each, hand-written; Alembic skips this ``__init__``."""
