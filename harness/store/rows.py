"""Detached rows of the service's tables: built from a SQLAlchemy row by field name, and
as JSON for the API (datetimes as ISO 8601); :func:`now`, the time rows are stamped with."""

from __future__ import annotations

import secrets
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, Self


def now() -> datetime:
    """The current time, in UTC (what every service table stores)."""
    return datetime.now(UTC)


def new_job_id() -> str:
    """``YYYYMMDDTHHMMSS-xxxxxx``: UTC time then 6 random hex digits, sorts by time."""
    return now().strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


class RowRecord:
    """Mixin for frozen dataclasses whose fields are columns of one table."""

    @classmethod
    def from_row(cls, row: Any) -> Self:
        m = row._mapping
        # a field that is no column (it has a default) is left to the caller
        return cls(**{f.name: m[f.name] for f in fields(cls) if f.name in m})  # type: ignore[arg-type]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return out
