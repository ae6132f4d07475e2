"""DSSE envelopes (Dead Simple Signing Envelope, v1) signed with Ed25519 keys.

The signature covers the pre-authentication encoding (PAE) of the payload and its type:
``DSSEv1 SP LEN(type) SP type SP LEN(body) SP body`` (lengths in ASCII decimal), so a
payload cannot be read as another type than the one it was signed as.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from harness.attest.keys import key_id

PAYLOAD_TYPE = "application/vnd.in-toto+json"


class EnvelopeError(ValueError):
    """An envelope that is not one, or whose signature does not verify."""


def pae(payload_type: str, body: bytes) -> bytes:
    """The bytes a DSSE signature signs."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def sign_envelope(
    body: bytes, key: Ed25519PrivateKey, payload_type: str = PAYLOAD_TYPE
) -> dict[str, Any]:
    """``body`` in an envelope signed by ``key`` (keyid: :func:`~harness.attest.keys.key_id`)."""
    signature = key.sign(pae(payload_type, body))
    return {
        "payload": base64.b64encode(body).decode("ascii"),
        "payloadType": payload_type,
        "signatures": [
            {"keyid": key_id(key.public_key()), "sig": base64.b64encode(signature).decode()}
        ],
    }


@dataclass(frozen=True, slots=True)
class Opened:
    """An envelope whose signature verified: the body, its statement, the key that signed."""

    body: bytes
    statement: dict[str, Any]
    keyid: str


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise EnvelopeError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        try:  # DSSE allows the URL-safe alphabet too
            return base64.urlsafe_b64decode(value)
        except (binascii.Error, ValueError):
            raise EnvelopeError(f"{what} is not base64") from None


def signatures(envelope: object) -> list[tuple[str, bytes]]:
    """The (keyid, signature) pairs of ``envelope``; :class:`EnvelopeError` if malformed."""
    if not isinstance(envelope, dict):
        raise EnvelopeError("not a DSSE envelope (a JSON object)")
    sigs = envelope.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        raise EnvelopeError("the envelope has no signatures")
    out = []
    for n, s in enumerate(sigs):
        if not isinstance(s, dict) or not isinstance(s.get("keyid", ""), str):
            raise EnvelopeError(f"signatures[{n}] is not a signature")
        out.append((str(s.get("keyid", "")), _b64(s.get("sig"), f"signatures[{n}].sig")))
    return out


def open_envelope(envelope: object, keys: dict[str, Ed25519PublicKey]) -> Opened:
    """Verify ``envelope`` with one of ``keys`` (by key id) and parse its statement.
    :class:`EnvelopeError` saying why not: malformed, no known key, a bad signature."""
    sigs = signatures(envelope)
    assert isinstance(envelope, dict)
    payload_type = envelope.get("payloadType")
    if payload_type != PAYLOAD_TYPE:
        raise EnvelopeError(f"payloadType {payload_type!r}, expected {PAYLOAD_TYPE!r}")
    body = _b64(envelope.get("payload"), "payload")
    known = [(kid, sig) for kid, sig in sigs if kid in keys]
    if not known:
        ids = ", ".join(kid[:16] or "(none)" for kid, _ in sigs)
        raise EnvelopeError(f"signed by no trusted key (key ids {ids})")
    message = pae(payload_type, body)
    for kid, sig in known:
        try:
            keys[kid].verify(sig, message)
        except InvalidSignature:
            continue
        try:
            statement = json.loads(body)
        except ValueError as exc:
            raise EnvelopeError(f"the payload is not JSON: {exc}") from None
        if not isinstance(statement, dict):
            raise EnvelopeError("the payload is not a JSON object")
        return Opened(body, statement, kid)
    raise EnvelopeError(f"bad signature for key {known[0][0][:16]}: the envelope was altered")
