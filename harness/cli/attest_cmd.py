"""``harness attest``: runners' signing keys, and checking a run's signed attestation."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import requests

from harness import settings
from harness.attest.check import (
    attested_tests,
    check_commit,
    check_subjects,
    check_tests,
    verify_signature,
)
from harness.attest.keys import (
    TrustedKey,
    default_key_file,
    generate,
    key_id,
    load_public,
    load_trusted,
    public_path,
    register,
)
from harness.cli.options import json_option
from harness.errors import ConfigError, HarnessError
from harness.store import Store

#: keys given with --key are trusted without an end
FOREVER = datetime(9999, 12, 31, tzinfo=UTC)
_ATTESTATION_URL = re.compile(r"^(?P<base>https?://.+)/api/runs/(?P<run>\d+)/attestation/?$")


@click.group()
def attest() -> None:
    """Signed attestations of runs: keys, registration, verification."""


def _emit(data: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for line in lines:
            click.echo(line)


@attest.command("keygen")
@click.option(
    "--key",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the private key (default: $HARNESS_ATTEST_KEY_FILE, else "
    "~/.config/harness/attest-ed25519.pem); the public key goes beside it (.pub).",
)
@json_option
def keygen(path: Path | None, as_json: bool) -> None:
    """Make this runner's Ed25519 signing key (never over an existing one)."""
    path = path or default_key_file()
    key = generate(path)
    kid = key_id(key.public_key())
    pub = public_path(path)
    _emit(
        {"key": str(path), "public_key": str(pub), "key_id": kid},
        as_json,
        [f"private key: {path}", f"public key:  {pub}", f"key id:      {kid}"],
    )


def _when(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date or time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@attest.command("register")
@click.argument("public_key", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--runner", required=True, help="The runner this key belongs to.")
@click.option(
    "--not-after", required=True, metavar="DATE", help="Trust the key until then (ISO date)."
)
@click.option(
    "--keys",
    "keys_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The service's trusted-keys file (default: $HARNESS_ATTEST_TRUSTED_KEYS).",
)
@json_option
def register_cmd(
    public_key: Path, runner: str, not_after: str, keys_file: Path | None, as_json: bool
) -> None:
    """Trust PUBLIC_KEY (a runner's .pub) for attestations sent to the service."""
    target = keys_file or settings.ATTEST_TRUSTED_KEYS.get()
    if target is None:
        raise ConfigError("no trusted-keys file: pass --keys or set HARNESS_ATTEST_TRUSTED_KEYS")
    until = _when(not_after)
    kid = register(target, load_public(public_key), runner, until)
    _emit(
        {"keys": str(target), "runner": runner, "key_id": kid, "not_after": until.isoformat()},
        as_json,
        [f"trusted key {kid} of runner {runner} until {until.isoformat()} ({target})"],
    )


def _get_json(url: str) -> Any:
    try:
        r = requests.get(url, timeout=30)
    except requests.RequestException as exc:
        raise HarnessError(f"cannot fetch {url}: {exc}") from None
    if r.status_code != 200:
        raise HarnessError(f"{url}: HTTP {r.status_code}: {r.text[:200]}")
    try:
        return r.json()
    except ValueError:
        raise HarnessError(f"{url}: not JSON") from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a JSON file: {exc}") from None


def _stored_results(data: Any, where: str) -> dict[str, Any]:
    """The shape of ``GET /api/runs/ID/results``, checked."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise ConfigError(f"{where}: not the results of a run (GET /api/runs/ID/results)")
    pairs = data["results"]
    if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        raise ConfigError(f"{where}: results must be [test id, outcome] pairs")
    return data


@attest.command("verify")
@click.argument("source")
@click.option(
    "--key",
    "key_files",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="A public key (PEM) to trust; repeatable.",
)
@click.option(
    "--keys",
    "keys_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="A trusted-keys file (runners, keys, not_after) to trust.",
)
@click.option(
    "--results",
    "results_source",
    metavar="FILE|URL",
    help="The stored results to compare (GET /api/runs/ID/results, saved or its URL); "
    "default for an attestation URL: the same run's results URL.",
)
@click.option("--db", "db_url", metavar="URL", help="Compare with a run in this database…")
@click.option("--run", "run_id", type=int, help="…this run (with --db).")
@json_option
def verify(
    source: str,
    key_files: tuple[Path, ...],
    keys_file: Path | None,
    results_source: str | None,
    db_url: str | None,
    run_id: int | None,
    as_json: bool,
) -> None:
    """Check the attestation SOURCE (a file, or its URL on the service) offline: its
    signature by a trusted key (--key, --keys), that it is an in-toto Test Result
    statement, and, given the stored results (--results, or --db and --run), that its
    commit is theirs and the tests it lists are exactly the ones stored. Exit status 2
    when it does not verify."""
    trusted: dict[str, TrustedKey] = load_trusted(keys_file) if keys_file else {}
    for path in key_files:
        public = load_public(path)
        trusted[key_id(public)] = TrustedKey(path.name, key_id(public), public, FOREVER)
    if not trusted:
        raise ConfigError("no key to verify with: pass --key PUB or --keys FILE")
    match = _ATTESTATION_URL.match(source)
    if source.startswith(("http://", "https://")):
        envelope = _get_json(source)
        if results_source is None and db_url is None and match is not None:
            results_source = f"{match['base']}/api/runs/{match['run']}/results"
    else:
        envelope = _read_json(Path(source))
    checked = ["signature"]
    opened, key = verify_signature(envelope, trusted)
    statement = opened.statement
    counts = {name: d["count"] for name, d in attested_tests(statement).items()}
    compared: dict[str, Any] | None = None
    if db_url is not None:
        if run_id is None:
            raise ConfigError("--db needs --run ID")
        with Store.open(db_url) as store:
            run = store.get_run(run_id)
            env = store.get_environment(run.environment_id) if run.environment_id else None
            pairs = [(r.test_id, r.outcome.value) for r in store.iter_results(run_id)]
        check_subjects(statement, run.upstream, run.sha, env)
        checked.append("commit, image and environment")
        compared = {"run": run_id, "upstream": run.upstream, "sha": run.sha, "status": run.status}
    elif results_source is not None:
        data = _stored_results(
            _get_json(results_source)
            if results_source.startswith(("http://", "https://"))
            else _read_json(Path(results_source)),
            results_source,
        )
        pairs = [(str(t), str(o)) for t, o in data["results"]]
        check_commit(statement, str(data.get("upstream")), data.get("sha"))
        checked.append("commit")
        compared = {k: data.get(k) for k in ("run", "upstream", "sha", "status")}
    if compared is not None:
        check_tests(statement, pairs, compared["status"])
        checked.append("tests")
    predicate = statement["predicate"]
    data_out = {
        "verified": True,
        "key_id": key.key_id,
        "signer": key.runner,
        "subject": statement.get("subject"),
        "result": predicate.get("result"),
        "tests": counts,
        "checked": checked,
        "compared_with": compared,
    }
    lines = [
        f"verified: signed by {key.runner} (key {key.key_id[:16]})",
        f"result: {predicate.get('result')} " + ", ".join(f"{n} {c}" for n, c in counts.items()),
        *[
            f"subject: {s.get('name')} "
            + ", ".join(f"{alg}:{value}" for alg, value in (s.get("digest") or {}).items())
            for s in statement.get("subject", [])
            if isinstance(s, dict)
        ],
        f"checked: {', '.join(checked)}"
        + (f" against run {compared.get('run')}" if compared else " (no stored results given)"),
    ]
    _emit(data_out, as_json, lines)
