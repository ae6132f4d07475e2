"""Table ``pull_requests``: the service's record of pull requests (newest head, author,
association, approval), kept from ``pull_request`` deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from harness.store.models import PullRequest, Run
from harness.store.rows import now

prs_t = cast(Table, PullRequest.__table__)
runs_t = cast(Table, Run.__table__)


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


class Pulls:
    """The pull requests, read and written through one unit of work's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, repository: str, number: int) -> PrRow | None:
        c = prs_t.c
        row = self.conn.execute(
            select(prs_t).where(c.repository == repository, c.number == number)
        ).first()
        if row is None:
            return None
        return PrRow(**{k: row._mapping[k] for k in PrRow.__dataclass_fields__})

    def upsert(self, pr: PrRow) -> bool:
        """Record ``pr`` unless the stored state comes from a newer delivery (GitHub's
        ``updated_at``; GitHub does not deliver in order); whether it was recorded. One
        statement, so concurrent dispatchers (SQLite, PostgreSQL) cannot interleave."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        row = {k: getattr(pr, k) for k in PrRow.__dataclass_fields__} | {"updated_at": now()}
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
        done = self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["repository", "number"],
                set_={k: stmt.excluded[k] for k in (*changing, "updated_at")},
                where=newer_or_unknown,
            ).returning(c.id)  # a row only when it was written (rowcount is 1 either way on PG)
        )
        return done.first() is not None

    def approve(self, pr: PrRow, by: str) -> None:
        """Record ``by``'s approval of the PR's head."""
        c = prs_t.c
        self.conn.execute(
            update(prs_t)
            .where(c.repository == pr.repository, c.number == pr.number)
            .values(approved_sha=pr.head_sha, approved_by=by, updated_at=now())
        )

    def open_heads_based_on(
        self, repository: str, cell: str, base_sha: str
    ) -> list[tuple[int, str]]:
        """(number, head) of the open pull requests whose runs of ``cell`` have
        ``base_sha`` as merge base."""
        r, p = runs_t.c, prs_t.c
        rows = self.conn.execute(
            select(p.number, p.head_sha)
            .distinct()
            .select_from(prs_t.join(runs_t, and_(r.sha == p.head_sha, r.upstream == p.repository)))
            .where(
                p.repository == repository,
                p.state == "open",
                r.cell == cell,
                r.base_sha == base_sha,
                r.is_default_branch.is_not(True),
            )
        ).all()
        return [(int(n), str(h)) for n, h in rows]

    def open_with_runs_of(self, repository: str, cell: str) -> list[tuple[int, str]]:
        """(number, head) of the open pull requests whose heads have runs of ``cell``."""
        r, p = runs_t.c, prs_t.c
        rows = self.conn.execute(
            select(p.number, p.head_sha)
            .distinct()
            .select_from(prs_t.join(runs_t, and_(r.sha == p.head_sha, r.upstream == p.repository)))
            .where(p.repository == repository, p.state == "open", r.cell == cell)
            .order_by(p.number)
        ).all()
        return [(int(n), str(h)) for n, h in rows]
