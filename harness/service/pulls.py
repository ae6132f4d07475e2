"""The service's record of pull requests (table ``pull_requests``): newest head, author,
association and approval, kept from ``pull_request`` deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from harness.service import queue as q
from harness.store.models import PullRequest

prs_t = cast(Table, PullRequest.__table__)


@dataclass(frozen=True, slots=True)
class PrRow:
    repository: str
    number: int
    head_sha: str
    head_label: str | None
    author: str
    association: str
    state: str
    approved_sha: str | None
    approved_by: str | None
    installation_id: int | None
    github_updated_at: datetime | None = None


def get_pr(conn: Connection, repository: str, number: int) -> PrRow | None:
    c = prs_t.c
    row = conn.execute(select(prs_t).where(c.repository == repository, c.number == number)).first()
    if row is None:
        return None
    return PrRow(**{k: row._mapping[k] for k in PrRow.__dataclass_fields__})


def upsert_pr(conn: Connection, pr: PrRow) -> bool:
    """Record ``pr`` unless the stored state comes from a newer delivery (GitHub's
    ``updated_at``; GitHub does not deliver in order); whether it was recorded. One
    statement, so concurrent dispatchers (SQLite, PostgreSQL) cannot interleave."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    row = {k: getattr(pr, k) for k in PrRow.__dataclass_fields__} | {"updated_at": q.now()}
    stmt = dialect.insert(prs_t).values(**row)
    changing = (
        "head_sha", "head_label", "author", "association", "state", "installation_id",
        "github_updated_at",
    )  # fmt: skip
    c = prs_t.c
    newer_or_unknown = or_(
        c.github_updated_at.is_(None),
        stmt.excluded.github_updated_at.is_(None),
        stmt.excluded.github_updated_at >= c.github_updated_at,
    )
    done = conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["repository", "number"],
            set_={k: stmt.excluded[k] for k in (*changing, "updated_at")},
            where=newer_or_unknown,
        ).returning(c.id)  # a row only when it was written (rowcount is 1 either way on PG)
    )
    return done.first() is not None


def approve(conn: Connection, pr: PrRow, by: str) -> int:
    """Record ``by``'s approval of the PR's head; release its held items (how many)."""
    c = prs_t.c
    conn.execute(
        update(prs_t)
        .where(c.repository == pr.repository, c.number == pr.number)
        .values(approved_sha=pr.head_sha, approved_by=by, updated_at=q.now())
    )
    return q.release_held(conn, pr.repository, pr.number, pr.head_sha)
