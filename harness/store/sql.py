"""SQL helpers of the store: a LIKE pre-filter from a glob, environments stored once
per content, results inserted in bulk the fastest way the driver offers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from harness.fingerprint import digest
from harness.store.models import Environment, Result
from harness.store.rows import now

envs_t = cast(Table, Environment.__table__)
results_t = cast(Table, Result.__table__)


def glob_to_like(pattern: str) -> str:
    """A LIKE pattern (escape ``\\``) matching at least what fnmatch ``pattern`` matches.

    ``*`` and ``?`` translate exactly; a ``[...]`` class becomes ``_`` (any one character),
    so the result is a pre-filter and fnmatch decides.
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        elif ch == "[":
            # as fnmatch reads it: "[!...]" negates, a "]" right after "[" or "[!" is literal
            j = i + (pattern[i : i + 1] == "!")
            j += pattern[j : j + 1] == "]"
            end = pattern.find("]", j)
            if end < 0:
                out.append("[")  # no class: a literal "["
            else:
                out.append("_")
                i = end + 1
        elif ch in "%_\\":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


_RESULT_INSERT_COLUMNS = ("run_id", "test_id", "outcome", "duration_s", "message")


def no_nul(text: str) -> str:
    """PostgreSQL text cannot hold NUL; test output sometimes has it."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


#: A result row as stored, without its run: (test_id, outcome, duration_s, message).
ResultRow = tuple[str, str, float, "str | None"]


def environment_id(conn: Connection, fingerprint: dict[str, Any]) -> int:
    """The id of ``fingerprint``'s row, stored once per distinct content (in the caller's
    transaction; concurrent inserts of the same content are a no-op)."""
    data = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))
    key = digest(data)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(envs_t)
        .values(digest=key, data=data, created_at=now())
        .on_conflict_do_nothing(index_elements=["digest"])
    )
    return int(conn.execute(select(envs_t.c.id).where(envs_t.c.digest == key)).scalar_one())


def bulk_insert_results(conn: Connection, run_id: int, rows: Sequence[Sequence[Any]]) -> None:
    """Insert result rows of one run the fastest way the driver offers.

    SQLite: the driver's executemany over the rows as they are (the run id is a literal in
    the statement, so no per-row Python work). PostgreSQL (psycopg 3): ``COPY ... FROM
    STDIN``. Others: SQLAlchemy Core executemany. All inside the caller's transaction.
    """
    columns = ", ".join(_RESULT_INSERT_COLUMNS)
    raw: Any = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        cur = raw.cursor()
        try:
            cur.executemany(
                f"INSERT INTO results ({columns}) VALUES ({int(run_id)}, ?, ?, ?, ?)", rows
            )
        finally:
            cur.close()
    elif conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY results ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row((run_id, *row))
    else:
        conn.execute(
            insert(results_t),
            [dict(zip(_RESULT_INSERT_COLUMNS, (run_id, *r), strict=True)) for r in rows],
        )
