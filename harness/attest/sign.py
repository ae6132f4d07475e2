"""Signing a finished run from a store: its record, environment and results as stored
(by ``harness run --bundle`` for the bundles it writes, and by the service's workers
for the runs they finish)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.attest.dsse import sign_envelope
from harness.attest.keys import key_id
from harness.attest.statement import build_statement, statement_bytes
from harness.store import Store
from harness.store.attestations import Attested

RECORD_KEYS = ("upstream", "sha", "cell", "suite", "status", "subset", "args")


def sign_run(
    store: Store,
    run_id: int,
    key: Ed25519PrivateKey,
    signer: str,
    origin: Mapping[str, Any] | None = None,
) -> Attested:
    """Run ``run_id``'s statement, signed by ``key`` (``signer``: who holds it)."""
    run = store.get_run(run_id)
    environment = store.get_environment(run.environment_id) if run.environment_id else None
    pairs = ((r.test_id, r.outcome.value) for r in store.iter_results(run_id))
    record = {k: getattr(run, k) for k in RECORD_KEYS}
    statement = build_statement(record, environment, pairs, origin)
    envelope = sign_envelope(statement_bytes(statement), key)
    return Attested(envelope, key_id(key.public_key()), signer)
