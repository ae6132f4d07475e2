"""Ed25519 keys of runners: made (``harness attest keygen``), loaded, identified, trusted.

A key's id is the SHA-256 (hex) of its raw 32-byte public key. The service trusts the keys
listed in its trusted-keys file (``HARNESS_ATTEST_TRUSTED_KEYS``, written by
``harness attest register``)::

    keys:
    - runner: npu-runner-1
      key_id: 3f1c…            # sha256 of the raw public key
      public_key: 9Xv1…            # base64 of the raw public key
      not_after: "2027-06-30T00:00:00+00:00"

A key past its ``not_after`` is not trusted any more (attestations it signs are refused).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from harness.errors import ConfigError


def key_id(public: Ed25519PublicKey) -> str:
    """The SHA-256 (hex) of the raw public key."""
    return hashlib.sha256(raw_public(public)).hexdigest()


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def generate(path: Path) -> Ed25519PrivateKey:
    """A new key written to ``path`` (PKCS#8 PEM, mode 0600, never over an existing file)
    and its public half to ``path.pub`` (PEM)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path}: a key is there already; not overwritten") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public_path(path).write_text(public_pem(key.public_key()))
    return key


def public_path(path: Path) -> Path:
    return path.with_name(path.name + ".pub")


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the signing key: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 key ({type(key).__name__})")
    return key


def parse_public(text: str, where: str) -> Ed25519PublicKey:
    """A public key from PEM text, or from base64 of the raw 32 bytes."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error, UnicodeEncodeError) as exc:
        raise ConfigError(f"{where}: not an Ed25519 public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{where}: not an Ed25519 public key ({type(key).__name__})")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    """The public key in ``path`` (PEM), or the public half of a private key file."""
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the key: {exc}") from None
    if "PRIVATE KEY" in text:
        return load_private(path).public_key()
    return parse_public(text, str(path))


@dataclass(frozen=True, slots=True)
class TrustedKey:
    runner: str
    key_id: str
    public: Ed25519PublicKey
    not_after: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.not_after


def _read_registry(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: unreadable trusted keys: {exc}") from None
    entries = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{path}: expected `keys:` and a list of keys")
    return entries


def load_trusted(path: Path) -> dict[str, TrustedKey]:
    """The trusted keys of ``path`` by key id (none when the file does not exist); a key
    whose ``key_id`` is not its public key's is a :class:`ConfigError`."""
    out: dict[str, TrustedKey] = {}
    for n, entry in enumerate(_read_registry(path)):
        where = f"{path}: keys[{n}]"
        try:
            runner = str(entry["runner"])
            public = parse_public(str(entry["public_key"]), where)
            not_after = entry["not_after"]
            if isinstance(not_after, str):
                not_after = datetime.fromisoformat(not_after)
            if not isinstance(not_after, datetime):
                raise ValueError(f"not_after {not_after!r} is not a time")
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if not_after.tzinfo is None:
            not_after = not_after.replace(tzinfo=UTC)
        kid = key_id(public)
        if entry.get("key_id", kid) != kid:
            raise ConfigError(f"{where}: key_id is not the SHA-256 of its public key")
        out[kid] = TrustedKey(runner, kid, public, not_after)
    return out


def register(path: Path, public: Ed25519PublicKey, runner: str, not_after: datetime) -> str:
    """Trust ``public`` for ``runner`` until ``not_after`` in the file ``path`` (an entry
    of the same key is replaced); its key id."""
    if not_after.tzinfo is None:
        not_after = not_after.replace(tzinfo=UTC)
    kid = key_id(public)
    entries = [e for e in _read_registry(path) if e.get("key_id") != kid]
    entries.append(
        {
            "runner": runner,
            "key_id": kid,
            "public_key": base64.b64encode(raw_public(public)).decode("ascii"),
            "not_after": not_after.isoformat(),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"keys": entries}, sort_keys=False))
    return kid


def default_key_file() -> Path:
    """Where the runner's signing key is: ``HARNESS_ATTEST_KEY_FILE``, else the default."""
    from harness import settings

    return settings.ATTEST_KEY_FILE.get() or Path.home() / ".config/harness/attest-ed25519.pem"


def runner_key() -> Ed25519PrivateKey | None:
    """The runner's signing key: the file named by ``HARNESS_ATTEST_KEY_FILE`` (which must
    exist), else the default file when it exists, else None (bundles are not signed)."""
    from harness import settings

    path = default_key_file()
    if not path.exists() and not settings.ATTEST_KEY_FILE.is_set():
        return None
    return load_private(path)
