"""Signed attestations of runs: what a runner says it ran, and on what, signed with its key.

``statement.py`` builds an in-toto Statement v1 with the Test Result predicate
(``https://in-toto.io/attestation/test-result/v0.1``) from a bundle's run record, its
environment and its results; ``dsse.py`` wraps it in a DSSE envelope signed with an
Ed25519 key; ``keys.py`` makes, loads and registers keys (the service's trusted keys,
each with a runner name and a ``not_after``); ``sign.py`` signs a stored run (for
bundles and for the service's workers); ``check.py`` verifies an envelope against
trusted keys and compares what it says with a bundle or with stored results.
"""
