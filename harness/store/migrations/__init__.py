"""Alembic migrations of the store (a package so that they ship in the wheel).

:func:`harness.store.db.upgrade` runs them; there is no ``alembic.ini``.
"""
