"""``harness results send``: a runner sends its result bundles to the service."""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import time
from pathlib import Path

import click
import requests

from harness import settings
from harness.bundle import ATTESTATION, find_bundles
from harness.codehost.github.signature import sign
from harness.errors import ConfigError, HarnessError

ATTEMPTS = 5


@click.group()
def results() -> None:
    """Result bundles between machines."""


def github_oidc_token(audience: str) -> str:
    """A GitHub Actions OIDC token for ``audience`` (the job needs ``id-token: write``)."""
    url, token = (
        os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL"),
        os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    )
    if not url or not token:
        raise ConfigError(
            "no OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN are not set",
            hint="run inside GitHub Actions with `permissions: id-token: write`, or use "
            "HARNESS_RESULTS_SECRET",
        )
    r = requests.get(
        url, params={"audience": audience}, headers={"Authorization": f"bearer {token}"}, timeout=30
    )
    if r.status_code != 200:
        raise HarnessError(f"GitHub refused an OIDC token: HTTP {r.status_code}")
    return str(r.json()["value"])


def pack(paths: list[Path]) -> bytes:
    bundles = find_bundles(paths)
    if not bundles:
        raise ConfigError(f"no result bundle (run.json) under {', '.join(map(str, paths))}")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for b in bundles:
            for name in ("run.json", "results.jsonl.gz", ATTESTATION):
                if name == ATTESTATION and not (b.path / name).is_file():
                    continue
                tar.add(b.path / name, arcname=f"{b.path.name}/{name}")
    return buf.getvalue()


@results.command("send")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--to", "url", required=True, metavar="URL", help="The service's base URL.")
@click.option(
    "--oidc", is_flag=True, help="Authenticate with this job's GitHub Actions OIDC token."
)
@click.option(
    "--audience", default="accel-harness", show_default=True, help="The token's audience."
)
def send(paths: tuple[Path, ...], url: str, oidc: bool, audience: str) -> None:
    """POST the bundles under PATHS to the service (URL/api/results), authenticated by an
    OIDC token (--oidc) or by HMAC with $HARNESS_RESULTS_SECRET; retried with backoff."""
    body = pack(list(paths))
    headers = {"Content-Type": "application/gzip"}
    if oidc:
        headers["Authorization"] = f"Bearer {github_oidc_token(audience)}"
    else:
        secret = settings.RESULTS_SECRET.get()
        if not secret:
            raise ConfigError("no credentials: pass --oidc or set HARNESS_RESULTS_SECRET")
        headers["X-Harness-Signature-256"] = sign(secret.encode(), body)
    target = url.rstrip("/") + "/api/results"
    for attempt in range(1, ATTEMPTS + 1):
        try:
            r = requests.post(target, data=body, headers=headers, timeout=120)
        except requests.RequestException as exc:
            failure = f"{type(exc).__name__}: {exc}"
        else:
            if r.status_code in (200, 201):  # 200: the service had this archive already
                json.dump(r.json(), sys.stdout, indent=2)
                sys.stdout.write("\n")
                return
            if r.status_code < 500 and r.status_code != 429:
                raise HarnessError(
                    f"the service refused the results: HTTP {r.status_code}: {r.text[:300]}"
                )
            failure = f"HTTP {r.status_code}"
        if attempt == ATTEMPTS:
            raise HarnessError(f"cannot send the results to {target}: {failure}")
        delay = min(60, 2**attempt)
        click.echo(f"sending failed ({failure}); retrying in {delay} s", err=True)
        time.sleep(delay)
