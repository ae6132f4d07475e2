"""The database schema (SQLAlchemy 2 typed declarative models).

Runs are the unit of history: one cell executed at one upstream SHA. Results are stored
one row per test case with the test id as text, indexed for "this cell over time"
(runs by cell and start time) and "this test across runs" (results by test id and run).
Fingerprints are deduplicated by the digest of their canonical JSON.

The migration in ``migrations/versions`` must match these models; a test compares them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: BIGINT on PostgreSQL, INTEGER on SQLite (so it is the rowid and autoincrements).
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(32))
    pattern: Mapped[str] = mapped_column(Text)
    ref: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Environment(Base):
    __tablename__ = "environments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_cell_started_at", "cell", "started_at"),
        Index("ix_runs_suite_backend_started_at", "suite", "backend", "started_at"),
        Index("ix_runs_sha", "sha"),
        Index("ix_runs_job_id", "job_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"))
    cell: Mapped[str] = mapped_column(String(255))
    suite: Mapped[str] = mapped_column(String(100))
    backend: Mapped[str] = mapped_column(String(50))
    variant: Mapped[str] = mapped_column(String(100))
    upstream: Mapped[str] = mapped_column(String(255))
    ref: Mapped[str | None] = mapped_column(Text)
    sha: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    executor: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float | None] = mapped_column(Float)
    n_passed: Mapped[int] = mapped_column(Integer, default=0)
    n_failed: Mapped[int] = mapped_column(Integer, default=0)
    n_error: Mapped[int] = mapped_column(Integer, default=0)
    n_skipped: Mapped[int] = mapped_column(Integer, default=0)
    n_xfailed: Mapped[int] = mapped_column(Integer, default=0)
    n_xpassed: Mapped[int] = mapped_column(Integer, default=0)
    environment_id: Mapped[int | None] = mapped_column(ForeignKey("environments.id"))
    log_dir: Mapped[str | None] = mapped_column(Text)
    out_dir: Mapped[str | None] = mapped_column(Text)


class Result(Base):
    __tablename__ = "results"
    __table_args__ = (
        Index("ix_results_run_id", "run_id"),
        Index("ix_results_test_id_run_id", "test_id", "run_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    test_id: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
