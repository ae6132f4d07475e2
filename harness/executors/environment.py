"""The environment variables a step sees.

Steps run upstream code, so they get an allow-list of the host environment, never the
whole of it: locale, proxy and CA settings, pip/uv settings (so an operator can point
heavy installs such as torch or torch_npu at a local wheel folder or index with
``PIP_FIND_LINKS``/``PIP_INDEX_URL``), ``HARNESS_*`` recipe knobs, and the device stack's
runtime environment (CANN's ``ASCEND_*``/``ATB_*`` and ``LD_LIBRARY_PATH`` as
``set_env.sh`` exports them). Anything that looks like a credential is dropped even when
allowed, unless named explicitly with ``--pass-env``.

A suite's ``env`` (suite, backend and step level) holds defaults: where the operator gives
a name a value of their own (a host variable a step may see here, or one ``--pass-env``
names), the operator's value wins, except for the names the suite lists in
``env_pinned`` (:func:`suite_env`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

PASS_NAMES = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TERM", "TMPDIR", "TZ",
        "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS", "HF_HOME", "HF_HUB_OFFLINE", "HF_ENDPOINT", "TRANSFORMERS_OFFLINE",
        "XDG_CACHE_HOME", "CMAKE_GENERATOR", "CC", "CXX",
        # device stacks: the CANN / CUDA environment a host or image sets up (set_env.sh)
        "LD_LIBRARY_PATH", "TOOLCHAIN_HOME", "CUDA_HOME", "CUDA_PATH",
    }
)  # fmt: skip
PASS_PREFIXES = ("LC_", "PIP_", "UV_", "HARNESS_", "ASCEND_", "ATB_", "ASDOPS_", "LCCL_")
#: Never passed implicitly: the harness's own database URL may carry a password; the
#: failpoints are armed for the harness process, never for what its steps run.
NEVER_IMPLICIT = frozenset(
    {"HARNESS_DB", "HARNESS_WEBHOOK_SECRET", "HARNESS_GITHUB_TOKEN", "HARNESS_FAILPOINTS"}
)
SECRET_RE = re.compile(
    r"(TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|_KEY$|_KEY_FILE$|^AWS_|^GITHUB_|^GH_|"
    r"^ACTIONS_|^HARNESS_GITHUB_)",
    re.IGNORECASE,
)


def looks_secret(name: str) -> bool:
    return bool(SECRET_RE.search(name)) or name in NEVER_IMPLICIT


def filtered_host_env(host: Mapping[str, str], pass_env: Iterable[str] = ()) -> dict[str, str]:
    """The part of ``host`` a step may see (see the module docstring)."""
    explicit = set(pass_env)
    out: dict[str, str] = {}
    for name, value in host.items():
        if name in explicit or (
            (name in PASS_NAMES or name.startswith(PASS_PREFIXES)) and not looks_secret(name)
        ):
            out[name] = value
    return out


_URL_USERINFO_RE = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")
_SECRET_QUERY_RE = re.compile(
    r"([?&;])((?:access_?)?token|auth|key|api_?key|password|passwd|secret|signature|sig)"
    r"=[^&;#\s]*&?",
    re.IGNORECASE,
)


def scrub_credentials(value: str) -> str:
    """``value`` without credentials in URLs: ``user:password@`` (or ``token@``) userinfo
    is removed, and ``token=`` / ``password=`` / ``key=``-like query values are dropped."""
    value = _URL_USERINFO_RE.sub(r"\1", value)
    value = _SECRET_QUERY_RE.sub(lambda m: m.group(1), value)
    return re.sub(r"[?&;](?=\s|$|#)", "", value)


def suite_env(
    layers: Iterable[Mapping[str, str]], operator: Mapping[str, str], pinned: Collection[str]
) -> dict[str, str]:
    """The suite-declared values a step gets on top of the operator's: ``layers`` (suite,
    backend, step ``env``) merged in order, less the names the operator set (``operator``:
    what the step gets from the operator), except the ``pinned`` ones, which always keep
    the suite's value."""
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(layer)
    return {name: value for name, value in merged.items() if name in pinned or name not in operator}
