"""The ``cann`` image family: CANN packaging facts the openEuler + CANN images are
rendered from, and its package resolver (:class:`CannFamily`).

As Ascend's own images (Ascend/cann-container-image) install it: the toolkit, then the
chip's operator package (``kernels`` up to 8.3, ``ops`` from 8.5 on, with new names),
then NNAL with the toolkit's environment sourced first; every package with
``--quiet --install --install-for-all``. The installed environment is baked as ``ENV``
(the install path moved at 8.5: ``ascend-toolkit/latest`` → ``cann-<version>``; NNAL's
ATB uses the C++11 ABI directory from 8.5 on).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness import settings
from harness.errors import ConfigError
from harness.images.families import ImageFamily, PackageRequest, Resolved

#: chip key → (package prefix ≤ 8.3, package prefix ≥ 8.5); None: not available then
CHIPS: dict[str, tuple[str | None, str]] = {
    "910b": ("Ascend-cann-kernels-910b", "Ascend-cann-910b-ops"),
    "a3": ("Atlas-A3-cann-kernels", "Ascend-cann-A3-ops"),
    "310p": ("Ascend-cann-kernels-310p", "Ascend-cann-310p-ops"),
    "910": ("Ascend-cann-kernels-910", "Ascend-cann-910-ops"),
    "950": (None, "Ascend-cann-950-ops"),
}
INSTALL_FLAGS = "--quiet --install --install-for-all"
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\w+?)(?:[.-](alpha|beta)\.?(\d+))?$", re.IGNORECASE)


def version_key(version: str) -> tuple[int, int]:
    """(major, minor) of a CANN version: ``8.3.rc2`` → (8, 3)."""
    m = _VERSION.match(version)
    if not m:
        raise ValueError(f"'{version}' is not a CANN version (e.g. 8.3.rc2, 8.5.0, 9.0.1)")
    return int(m.group(1)), int(m.group(2))


def url_version(version: str) -> str:
    """The spelling in package names and URLs: upper-case RC (``8.3.rc2`` → ``8.3.RC2``)."""
    return re.sub(r"rc(\d+)", r"RC\1", version, flags=re.IGNORECASE)


def uses_ops_package(version: str) -> bool:
    """CANN 8.5 renamed the per-chip ``kernels`` package to ``ops``."""
    return version_key(version) >= (8, 5)


def check_combination(version: str, chip: str) -> str | None:
    """Why ``chip`` has no operator package for ``version``, or ``None``."""
    old, _new = CHIPS[chip]
    if chip == "950" and version_key(version) < (9, 0):
        return "the 950 series needs CANN 9.0.0 or newer"
    if not uses_ops_package(version) and old is None:
        return f"no operator package for {chip} before CANN 8.5"
    return None


@dataclass(frozen=True, slots=True)
class CannPackages:
    version: str
    chip: str
    arch: str  # x86_64 | aarch64

    @property
    def _v(self) -> str:
        return url_version(self.version)

    @property
    def toolkit(self) -> str:
        return f"Ascend-cann-toolkit_{self._v}_linux-{self.arch}.run"

    @property
    def ops(self) -> str:
        old, new = CHIPS[self.chip]
        prefix = new if uses_ops_package(self.version) else old
        assert prefix is not None, check_combination(self.version, self.chip)
        return f"{prefix}_{self._v}_linux-{self.arch}.run"

    @property
    def ops_kind(self) -> str:
        return "ops" if uses_ops_package(self.version) else "kernels"

    @property
    def nnal(self) -> str:
        return f"Ascend-cann-nnal_{self._v}_linux-{self.arch}.run"

    @property
    def files(self) -> tuple[str, str, str]:
        """In install order."""
        return self.toolkit, self.ops, self.nnal

    def url(self, mirror: str, file: str) -> str:
        return f"{mirror.rstrip('/')}/CANN/CANN%20{self._v}/{file}"


def environment(version: str) -> dict[str, str]:
    """The ``ENV`` the images bake, as ``set_env.sh`` (toolkit and NNAL) would export it."""
    new_layout = version_key(version) >= (8, 5)
    home = (
        f"/usr/local/Ascend/cann-{url_version(version)}"
        if new_layout
        else "/usr/local/Ascend/ascend-toolkit/latest"
    )
    abi = "1" if new_layout else "0"
    driver = "/usr/local/Ascend/driver/lib64"
    lib = [
        f"{driver}",
        f"{driver}/common",
        f"{driver}/driver",
        "${ASCEND_TOOLKIT_HOME}/lib64",
        "${ASCEND_TOOLKIT_HOME}/lib64/plugin/opskernel",
        "${ASCEND_TOOLKIT_HOME}/lib64/plugin/nnengine",
        "${ASCEND_TOOLKIT_HOME}/opp/built-in/op_impl/ai_core/tbe/op_tiling",
        "${ASCEND_TOOLKIT_HOME}/tools/aml/lib64",
        "${ASCEND_TOOLKIT_HOME}/tools/aml/lib64/plugin",
        "${ATB_HOME_PATH}/lib",
    ]
    env = {
        "ASCEND_TOOLKIT_HOME": home,
        "ASCEND_HOME_PATH": "${ASCEND_TOOLKIT_HOME}",
        "ASCEND_AICPU_PATH": "${ASCEND_TOOLKIT_HOME}",
        "ASCEND_OPP_PATH": "${ASCEND_TOOLKIT_HOME}/opp",
        "TOOLCHAIN_HOME": "${ASCEND_TOOLKIT_HOME}/toolkit",
        "ATB_HOME_PATH": f"/usr/local/Ascend/nnal/atb/latest/atb/cxx_abi_{abi}",
        "ATB_CXX_ABI": abi,
        "LD_LIBRARY_PATH": ":".join(lib) + ":${LD_LIBRARY_PATH}",
        "PYTHONPATH": "${ASCEND_TOOLKIT_HOME}/python/site-packages:"
        "${ASCEND_TOOLKIT_HOME}/opp/built-in/op_impl/ai_core/tbe:${PYTHONPATH}",
        "PATH": "${ASCEND_TOOLKIT_HOME}/bin:${ASCEND_TOOLKIT_HOME}/compiler/ccec_compiler/bin:"
        "${ASCEND_TOOLKIT_HOME}/tools/ccec_compiler/bin:${PATH}",
        "TORCH_DEVICE_BACKEND_AUTOLOAD": "1",
    }
    if new_layout:
        env["ASCEND_TOOLKIT_LATEST_HOME"] = "/usr/local/Ascend/ascend-toolkit/latest"
        env["CMAKE_PREFIX_PATH"] = (
            "${TOOLCHAIN_HOME}/tools/tikicpulib/lib/cmake:${ASCEND_TOOLKIT_HOME}/lib64/cmake"
        )
    return env


class CannFamily(ImageFamily):
    """openEuler + CANN images for npu, installed as Ascend's own images install it."""

    name = "cann"
    base = "openeuler/openeuler:{os_version}"
    axes = ("cann", "chip")

    def check_axis(self, axis: str, values: list[str]) -> None:
        if axis == "chip":
            for c in values:
                if c not in CHIPS:
                    raise ValueError(f"unknown chip {c!r}: one of {', '.join(CHIPS)}")

    def skip(self, params: Mapping[str, str]) -> str | None:
        return check_combination(params["cann"], params["chip"])

    def resolve(self, request: PackageRequest) -> Resolved:
        """The CANN packages of the variant: their URLs on the mirror, or the files of
        ``request.packages_dir`` copied into the build; the environment to bake."""
        variant, p, local = request.variant, request.variant.params, request.packages_dir
        pk = CannPackages(p["cann"], p["chip"], str(request.values["uname_arch"]))
        mirror = request.mirror or settings.CANN_MIRROR.get() or variant.cann_mirror
        files: dict[str, Path] = {}
        if local is not None:
            for file in pk.files:
                path = local / file
                if not path.is_file():
                    raise ConfigError(
                        f"CANN package {file} not found in {local}",
                        hint=f"{variant.id} ({request.arch}) needs {', '.join(pk.files)}",
                    )
                files[f"cann/{file}"] = path
        full = str(request.values["python_full"])
        values = {
            "cann": pk,
            "cann_urls": {f: pk.url(str(mirror), f) for f in pk.files},
            "local_packages": local is not None,
            "install_flags": INSTALL_FLAGS,
            "cann_env": environment(p["cann"]),
            "python_url": f"https://www.python.org/ftp/python/{full}/Python-{full}.tgz",
            "numpy": '"numpy==1.24.0"' if version_key(p["cann"]) < (8, 2) else '"numpy<2"',
            "gcc12_fix": p["os_version"].startswith("24.03"),
            "nnal_abi_flag": version_key(p["cann"]) >= (9, 0),
        }
        return Resolved(values=values, files=files)
