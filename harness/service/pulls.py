"""What the service does with its record of pull requests (table ``pull_requests``, kept
by :mod:`harness.store.pulls`): approving a head releases its held cells."""

from __future__ import annotations

from harness.store import Transaction
from harness.store.pulls import PrRow

__all__ = ["PrRow", "approve"]


def approve(tx: Transaction, pr: PrRow, by: str) -> int:
    """Record ``by``'s approval of the PR's head; release its held items (how many)."""
    tx.pulls.approve(pr, by)
    return tx.queue.release_held(pr.repository, pr.number, pr.head_sha)
