"""``harness doctor``: which backends are present and usable here, and why not."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness import __version__, settings
from harness.backends import available_backends, backend_origins, get_backend
from harness.backends.target import BackendDetector
from harness.cli.options import json_option
from harness.codehost.reporters import reporter_origins
from harness.errors import EXIT_INFRA
from harness.executors.registry import executor_entries
from harness.source.git import mask_url
from harness.source.mirrors import mirrors

DOCKER_PING_TIMEOUT_S = 5


def _git() -> dict[str, Any]:
    exe = shutil.which("git")
    if exe is None:
        return {"ok": False, "reason": "git not found on PATH", "hint": "install git"}
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return {"ok": out.returncode == 0, "version": out.stdout.strip().removeprefix("git version ")}


def _docker() -> dict[str, Any]:
    """Whether a container engine answers (the docker executor needs one)."""
    import docker  # imported here: it is slow to import and only doctor and the executor need it
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=DOCKER_PING_TIMEOUT_S)
        try:
            client.ping()
            version = client.version()
        finally:
            client.close()
    except DockerException as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return {
            "ok": False,
            "reason": f"no container engine answers: {first[:200]}",
            "hint": "start dockerd (or set DOCKER_HOST); without it cells run with the local "
            "executor only",
        }
    return {"ok": True, "version": version.get("Version"), "api": version.get("ApiVersion")}


def _untrusted_network(docker_ok: bool) -> dict[str, Any]:
    """How steps of untrusted code that need network would get it here."""
    from harness.container_engine import ContainerEngine, EngineError
    from harness.errors import ConfigError
    from harness.executors.egress import egress_unavailable, untrusted_policy

    try:
        policy = untrusted_policy()
    except ConfigError as exc:
        return {"ok": False, "reason": exc.message, "hint": exc.hint}
    if policy == "none":
        return {"ok": True, "detail": "none (HARNESS_UNTRUSTED_NETWORK=none): no network at all"}
    if policy == "open":
        return {
            "ok": False,
            "reason": "open (HARNESS_UNTRUSTED_NETWORK=open): untrusted setup gets the "
            "runner's network, its loopback and LAN included",
            "hint": "unset HARNESS_UNTRUSTED_NETWORK to confine it to the package indexes",
        }
    if not docker_ok:
        return {"ok": False, "reason": "egress: needs a container engine", "hint": None}
    try:
        why = egress_unavailable(ContainerEngine())
    except EngineError as exc:
        why = exc.message
    if why is not None:
        return {
            "ok": False,
            "reason": f"egress: this engine cannot confine it ({why}); untrusted steps "
            "that need network are refused",
            "hint": "allow the daemon to create bridge networks, or set "
            "HARNESS_UNTRUSTED_NETWORK=none (dependencies from a local wheel folder)",
        }
    return {
        "ok": True,
        "detail": "egress: package indexes only, through a proxy on an internal network",
    }


def doctor_report(names: list[str], *, check_host: bool = True) -> dict[str, Any]:
    """The data behind ``harness doctor --json`` (the shape is documented in the README)."""
    detector = BackendDetector()
    origins = backend_origins()
    backends: list[dict[str, Any]] = []
    for name in names:
        target = detector.target(name)
        d = target.detection
        options = asdict(target.backend.container_options(target.devices)) if d.present else None
        backends.append(
            {
                "name": name,
                "origin": origins.get(name, "?"),
                "present": d.present,
                "usable": target.usable,
                "priority": target.backend.priority,
                "device_type": target.backend.device_type,
                "devices": [asdict(dev) for dev in d.devices],
                "reason": d.reason,
                "hint": d.hint,
                "warnings": list(d.warnings),
                "details": d.details,
                "environment": target.environment() if d.present else {},
                "container_options": options,
            }
        )
    usable = [b for b in backends if b["usable"]]
    auto = max(usable, key=lambda b: (b["priority"], b["name"]))["name"] if usable else None
    report: dict[str, Any] = {
        "harness": __version__,
        "python": sys.executable,
        "backends": backends,
        "auto": auto,
        "shadowed_plugins": [k for k, v in origins.items() if v == "shadowed by built-in"],
        # built-in and plugin executors with what they declare (isolation, cells, devices)
        "executors": [e.as_json() for e in executor_entries()],
        # built-in and plugin reporters (where reports go: GitHub, chat, ...)
        "reporters": [{"name": n, "origin": o} for n, o in sorted(reporter_origins().items())],
        # the operator's URL rewrites (HARNESS_MIRRORS, HARNESS_MIRRORS_FILE)
        "mirrors": [{"prefix": m.prefix, "use": mask_url(m.use)} for m in mirrors()],
    }
    if check_host:
        docker = _docker()
        report["host"] = {
            "git": _git(),
            "docker": docker,
            "untrusted network": _untrusted_network(bool(docker["ok"])),
        }
    return report


def _status(b: dict[str, Any]) -> str:
    if b["usable"]:
        return "[green]usable[/]"
    if b["present"]:
        return "[yellow]present, not usable[/]"
    return "[dim]absent[/]"


def _devices(b: dict[str, Any]) -> str:
    devs = b["devices"]
    if not devs:
        return "-"
    models = sorted({d["model"] for d in devs})
    bad = sum(1 for d in devs if not d["healthy"])
    text = f"{len(devs)} x {', '.join(models)}"
    return text + (f" ({bad} unhealthy)" if bad else "")


def _stack(b: dict[str, Any]) -> str:
    det = b["details"]
    parts = []
    for key, label in (("cann", "CANN"), ("cuda", "CUDA"), ("driver", "driver")):
        if det.get(key):
            parts.append(f"{label} {det[key]}")
    if b["name"] == "cpu" and det.get("arch"):
        parts.append(str(det["arch"]))
    return ", ".join(parts) or "-"


def print_report(report: dict[str, Any], console: Console) -> None:
    table = Table(title=f"harness {report['harness']} backends on this machine")
    for col in ("backend", "status", "devices", "stack", "origin"):
        table.add_column(col, overflow="fold")
    for b in report["backends"]:
        table.add_row(
            escape(b["name"]), _status(b), escape(_devices(b)), escape(_stack(b)), b["origin"]
        )
    console.print(table)
    for b in report["backends"]:
        if not b["usable"]:
            line = f"[bold]{escape(b['name'])}[/]: {escape(b['reason'] or 'not usable')}"
            console.print(line, highlight=False)
            if b["hint"]:
                console.print(f"  [dim]what to do:[/] {escape(b['hint'])}", highlight=False)
        for w in b["warnings"]:
            console.print(f"[yellow]{escape(b['name'])}[/]: {escape(w)}", highlight=False)
            if b["usable"] and b["hint"]:
                console.print(f"  [dim]what to do:[/] {escape(b['hint'])}", highlight=False)
    auto = report["auto"]
    console.print(f"--backend auto would choose: [bold]{auto or 'nothing'}[/]", highlight=False)
    for e in report["executors"]:
        devices = ", ".join(e["devices"]) or "cpu only"
        console.print(
            f"executor [bold]{escape(e['name'])}[/] ({escape(e['origin'])}): {e['cells']} "
            f"cells, isolation {e['isolation']}, devices {escape(devices)}"
            + (", remote" if e["remote"] else ""),
            highlight=False,
        )
    for r in report["reporters"]:
        console.print(
            f"reporter [bold]{escape(r['name'])}[/] ({escape(r['origin'])})", highlight=False
        )
    for name in report["shadowed_plugins"]:
        console.print(
            f"[yellow]plugin {escape(name)} is ignored: a built-in backend has its name[/]"
        )
    for m in report["mirrors"]:
        console.print(
            f"mirror: {escape(m['prefix'])}… is fetched from {escape(m['use'])}…", highlight=False
        )
    host = report.get("host", {})
    for key, value in host.items():
        if value["ok"]:
            shown = value.get("detail") or value.get("version")
            console.print(f"{key}: {escape(str(shown))}", highlight=False)
        else:
            console.print(f"{key}: [yellow]{escape(value['reason'])}[/]", highlight=False)
            if value.get("hint"):
                console.print(f"  [dim]what to do:[/] {escape(value['hint'])}", highlight=False)


@click.command(
    short_help="Show which backends are usable here, and what to do for the others.",
    epilog="Exit codes: 0 report printed; 3 a --require'd backend is not usable.",
)
@click.option(
    "--backend",
    "only",
    multiple=True,
    metavar="NAME",
    help="Check only these backends (default: every built-in and installed plugin).",
)
@click.option(
    "--require",
    multiple=True,
    metavar="NAME",
    help="Exit 3 unless this backend is usable (for a runner's health check).",
)
@click.option(
    "--python",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Interpreter in which to check torch and device plugins such as torch_npu "
    "(default: the harness's own).",
)
@click.option("--no-host", is_flag=True, help="Skip the git and container engine checks.")
@json_option
def doctor(
    only: tuple[str, ...],
    require: tuple[str, ...],
    python: Path | None,
    no_host: bool,
    as_json: bool,
) -> None:
    """Show which backends are present and usable here, and for each one that is not,
    why and what to do; with the devices, driver and SDK versions each one found, the
    environment cells get and the container options that expose the devices."""
    if python is not None:
        os.environ[settings.PROBE_PYTHON.name] = str(python)
    names = list(dict.fromkeys([*only, *require])) or available_backends()
    for name in names:
        get_backend(name)  # an unknown name fails with a did-you-mean
    report = doctor_report(names, check_host=not no_host)
    if as_json:
        json.dump(report, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print_report(report, Console())
    missing = [b["name"] for b in report["backends"] if b["name"] in require and not b["usable"]]
    if missing:
        Console(stderr=True).print(
            f"[bold red]required backend(s) not usable:[/] {', '.join(missing)}", highlight=False
        )
        raise click.exceptions.Exit(EXIT_INFRA)
