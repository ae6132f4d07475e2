"""DSSE envelopes with real Ed25519 keys: the PAE of the spec, a signature that verifies,
and one that does not once a byte of the payload or its type changes."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.attest.dsse import EnvelopeError, open_envelope, pae, sign_envelope
from harness.attest.keys import generate, key_id, load_private, load_public, public_path
from harness.errors import ConfigError


def test_pae_is_the_specs_encoding() -> None:
    # the DSSE protocol's worked example
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_a_signed_envelope_opens_with_its_key_only() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    body = json.dumps({"_type": "https://in-toto.io/Statement/v1", "x": 1}).encode()
    envelope = sign_envelope(body, key)
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert envelope["signatures"][0]["keyid"] == key_id(key.public_key())
    opened = open_envelope(envelope, {key_id(key.public_key()): key.public_key()})
    assert opened.body == body
    assert opened.statement["x"] == 1
    with pytest.raises(EnvelopeError, match="no trusted key"):
        open_envelope(envelope, {key_id(other.public_key()): other.public_key()})
    # the other key under the signer's key id: the signature does not verify
    with pytest.raises(EnvelopeError, match="bad signature"):
        open_envelope(envelope, {key_id(key.public_key()): other.public_key()})


def test_a_changed_payload_or_type_breaks_the_signature() -> None:
    key = Ed25519PrivateKey.generate()
    keys = {key_id(key.public_key()): key.public_key()}
    envelope = sign_envelope(b'{"result":"FAILED"}', key)
    forged = envelope | {"payload": base64.b64encode(b'{"result":"PASSED"}').decode()}
    with pytest.raises(EnvelopeError, match="bad signature"):
        open_envelope(forged, keys)
    with pytest.raises(EnvelopeError, match="payloadType"):
        open_envelope(envelope | {"payloadType": "application/json"}, keys)
    for junk in ([], {"payload": "x"}, {"signatures": [{"keyid": "k", "sig": "!!"}]}):
        with pytest.raises(EnvelopeError):
            open_envelope(junk, keys)


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "runner.pem"
    key = generate(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert key_id(load_private(path).public_key()) == key_id(key.public_key())
    assert key_id(load_public(public_path(path))) == key_id(key.public_key())
    assert key_id(load_public(path)) == key_id(key.public_key())  # the public half
    with pytest.raises(ConfigError, match="already"):
        generate(path)
