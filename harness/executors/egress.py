"""Network for untrusted steps: only the package indexes, through an egress proxy.

A step of untrusted code that needs network (setup installing dependencies, a test step
marked ``network: true``) does not get the runner's network. It runs on a network of
its own that is *internal* (no route out) and on which this machine has no address, so
neither the host's services (its loopback, anything listening on ``0.0.0.0``) nor the
runner's LAN can be reached. The only other member is a proxy container (tinyproxy, from
the base image's distribution) that is also attached to ``harness-egress-out``, an
ordinary bridge network, and forwards requests only to an allow-list of host names:

- the hosts of the pip/uv knobs in the step's environment (``PIP_INDEX_URL``,
  ``PIP_EXTRA_INDEX_URL``, ``http(s)`` ``PIP_FIND_LINKS``, ``UV_*INDEX*``,
  ``HARNESS_TORCH_INDEX_URL``), and ``pypi.org`` + ``files.pythonhosted.org`` unless an
  index is configured or ``PIP_NO_INDEX`` is set;
- the suite's ``egress:`` hosts (a model hub a test step needs, say);
- ``HARNESS_EGRESS_ALLOW`` (comma-separated; ``*.example.org`` patterns allowed).

Everything else gets ``403`` from the proxy. ``https_proxy`` of the harness's own
environment, when set, becomes the proxy's upstream. One network and one proxy per step,
removed with it; the proxy image is built once per base image.

``HARNESS_UNTRUSTED_NETWORK`` chooses the policy: ``egress`` (the default), ``none`` (no
network at all: dependencies must come from a local wheel folder) or ``open`` (the
runner's network, as for trusted code: an explicit, unsafe opt-in).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness import settings
from harness.config import setting
from harness.container_engine import LABEL, ContainerEngine, EngineError
from harness.errors import ConfigError
from harness.images.render import BuildSpec, render_template

OUT_NETWORK = "harness-egress-out"
PORT = 3128
TEMPLATE = "egress-proxy.Dockerfile.j2"
DEFAULT_BASE = "debian:bookworm-slim"
PYPI_HOSTS = ("pypi.org", "files.pythonhosted.org")
POLICIES = setting.POLICIES
_URL_KNOBS = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_FIND_LINKS",
    "HARNESS_TORCH_INDEX_URL",
)
_HOST_RE = re.compile(r"^[a-z0-9*]([a-z0-9.*-]*[a-z0-9])?$")
#: how long the proxy may take to start listening
READY_TIMEOUT_S = 60.0


def untrusted_policy(env: Mapping[str, str] | None = None) -> str:
    """``HARNESS_UNTRUSTED_NETWORK``: egress (default), none or open."""
    return settings.UNTRUSTED_NETWORK.get(env)


def allowed_hosts(step_env: Mapping[str, str], extra: Iterable[str] = ()) -> list[str]:
    """The host names an untrusted step may reach (see the module docstring)."""
    hosts: set[str] = set()
    for name in _URL_KNOBS:
        for word in step_env.get(name, "").split():
            parts = urlsplit(word)
            if parts.scheme in ("http", "https") and parts.hostname:
                hosts.add(parts.hostname.lower())
    index_given = any(
        step_env.get(n) for n in ("PIP_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX")
    )
    if not index_given and step_env.get("PIP_NO_INDEX", "").lower() not in ("1", "true", "yes"):
        hosts.update(PYPI_HOSTS)
    operator = settings.EGRESS_ALLOW.get()
    for given in [*extra, *re.split(r"[\s,]+", operator)]:
        host = given.strip().lower()
        if not host:
            continue
        if not _HOST_RE.match(host):
            raise ConfigError(
                f"egress host {host!r} is not a host name",
                hint="give names like pypi.org or *.example.org (no scheme, port or path)",
            )
        hosts.add(host)
    return sorted(hosts)


def tinyproxy_config(upstream: str | None) -> str:
    lines = [
        f"Port {PORT}",
        "Timeout 600",
        "MaxClients 64",
        "LogLevel Info",
        "DisableViaHeader Yes",
        'Filter "/etc/harness-egress/allow"',
        "FilterType fnmatch",
        "FilterDefaultDeny Yes",
        "FilterURLs Off",
        "ConnectPort 443",
    ]
    if upstream:
        lines.append(f"Upstream http {upstream}")
    return "\n".join(lines) + "\n"


def _upstream_proxy() -> str | None:
    """``host:port`` (with ``user:password@`` if given) of the harness's own https proxy."""
    raw = settings.EGRESS_UPSTREAM.get() or os.environ.get(
        "https_proxy", os.environ.get("HTTPS_PROXY", "")
    )
    if not raw or raw.lower() == "none":
        return None
    parts = urlsplit(raw if "://" in raw else f"http://{raw}")
    if not parts.hostname:
        return None
    auth = f"{parts.username}:{parts.password}@" if parts.username else ""
    return f"{auth}{parts.hostname}:{parts.port or 3128}"


def proxy_image_spec(images_dir: Path, base: str | None, base_id: str | None) -> BuildSpec:
    chosen = base or DEFAULT_BASE
    text = render_template(images_dir, TEMPLATE, {"base": chosen, "template": TEMPLATE})
    return BuildSpec(
        repository="harness/egress-proxy",
        dockerfile=text,
        inputs={"base_id": base_id} if base_id else {},
        labels={"org.accel-harness.role": "egress-proxy"},
    )


def egress_unavailable(engine: ContainerEngine) -> str | None:
    """Why this engine cannot confine untrusted network (None: it can): creating an
    internal network without a host address must work."""
    name = f"harness-egress-check-{uuid.uuid4().hex[:8]}"
    try:
        engine.create_network(
            name, internal=True, labels={"org.accel-harness.role": "check"}, host_address=False
        )
    except EngineError as exc:
        return exc.message
    engine.remove_network(name)
    return None


@dataclass(frozen=True, slots=True)
class Egress:
    """A running proxy: the network a step joins and the environment that points at it;
    ``audit()`` gives what it forwarded and refused so far (for the step's log)."""

    network: str
    proxy_url: str
    hosts: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    audit: Callable[[], list[str]] = field(default=lambda: [])


def _ensure_out_network(engine: ContainerEngine) -> None:
    if engine.network(OUT_NETWORK) is None:
        with contextlib.suppress(EngineError):  # created meanwhile by another worker
            engine.create_network(
                OUT_NETWORK, internal=False, labels={"org.accel-harness.role": "egress-out"}
            )
        if engine.network(OUT_NETWORK) is None:
            raise EngineError(f"cannot create the network {OUT_NETWORK}")


@contextlib.contextmanager
def egress_proxy(
    engine: ContainerEngine,
    image: str,
    hosts: Iterable[str],
    labels: Mapping[str, str],
) -> Iterator[Egress]:
    """Start the proxy for one step (module docstring); everything is removed on exit."""
    allowed = tuple(sorted(set(hosts)))
    _ensure_out_network(engine)
    name = f"harness-egress-{uuid.uuid4().hex[:12]}"
    role = {**labels, "org.accel-harness.role": "egress"}
    engine.create_network(name, internal=True, labels=role, host_address=False)
    try:
        with tempfile.TemporaryDirectory(prefix="harness-egress-") as tmp:
            conf = Path(tmp)
            conf.chmod(0o755)
            (conf / "tinyproxy.conf").write_text(tinyproxy_config(_upstream_proxy()))
            (conf / "allow").write_text("".join(f"{h}\n" for h in allowed) or "\n")
            for f in conf.iterdir():
                f.chmod(0o644)
            create: dict[str, Any] = {
                "image": image,
                "name": name,
                "network": name,
                "volumes": {str(conf): {"bind": "/etc/harness-egress", "mode": "ro"}},
                "user": "65534:65534",
                "labels": {LABEL: "1", **role},
                "cap_drop": ["ALL"],
                "security_opt": ["no-new-privileges"],
                "mem_limit": "256m",
                "pids_limit": 256,
            }
            with engine.helper(create, also_on=[OUT_NETWORK]) as proxy:
                address = _wait_ready(engine, proxy, name)
                url = f"http://{address}:{PORT}"
                env = {k: url for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
                env.update(NO_PROXY="", no_proxy="")

                def audit() -> list[str]:
                    _running, logs, _ = engine.helper_state(proxy)
                    return [
                        line.split("]: ", 1)[-1]
                        for line in logs.splitlines()
                        if "Request (" in line or "refused" in line or line.startswith("ERROR")
                    ]

                yield Egress(network=name, proxy_url=url, hosts=allowed, env=env, audit=audit)
    finally:
        engine.remove_network(name)


def _wait_ready(engine: ContainerEngine, proxy: Any, network: str) -> str:
    """The proxy's address on ``network`` once it listens; EngineError if it dies."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        running, logs, addresses = engine.helper_state(proxy)
        if not running:
            raise EngineError(f"the egress proxy exited: {logs.strip()[-500:]}")
        if "accepting connections" in logs.lower() and network in addresses:
            return addresses[network]
        if time.monotonic() > deadline:
            raise EngineError(f"the egress proxy did not start listening: {logs.strip()[-500:]}")
        time.sleep(0.1)
