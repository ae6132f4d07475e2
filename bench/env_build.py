"""Environment build benchmark: ComfyUI's cpu environment with pip vs with uv.

The requirement set is what the ComfyUI cpu recipe installs (suites/comfyui.yaml):
torch, torchvision, torchaudio, then the upstream's requirements.txt and
tests-unit/requirements.txt, as they are at the commits named below (read from
Comfy-Org/ComfyUI; the lists are copied here so the bench runs offline), with torch the
CPU build from a local wheel folder (``--torch``, default /opt/wheels).

1. prepare (not timed): the whole set is downloaded once as wheels into one folder
   (``--wheels``; pip download with the operator's pip configuration; reused later);
2. then, in one run, each installer builds the environment from that folder only
   (``--no-index --find-links``, no configuration files, empty caches), into a fresh
   virtualenv made the same way for both (the venv module, as the harness does):

     pip         python -m pip install -r REQS         (pip compiles bytecode)
     uv          uv pip install -r REQS                (as {pip} runs in a cell)
     uv+compile  uv pip install --compile-bytecode     (the same work as pip)

and prints each wall time, the ratios pip/uv and pip/uv+compile, and checks that all
three environments hold the same distributions at the same versions.

Usage: python bench/env_build.py [--wheels DIR] [--torch DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.executors.installer import uv_binary, uv_version  # noqa: E402

#: Comfy-Org/ComfyUI requirements.txt at 077bd30facf0d7df537b8af3ce6523f344f164e7
REQUIREMENTS = """\
comfyui-frontend-package==1.53.6
comfyui-workflow-templates==0.11.73
comfyui-embedded-docs==0.5.12
torch
torchsde
torchvision
numpy>=1.25.0
einops
transformers>=4.50.3
tokenizers>=0.13.3
sentencepiece
safetensors>=0.4.2
aiohttp>=3.11.8
yarl>=1.18.0
pyyaml
Pillow
scipy
tqdm
psutil
alembic
SQLAlchemy>=2.0.0
filelock
av>=17.0.0
comfy-kitchen==0.2.36
comfy-aimdo==0.5.5
requests
simpleeval>=1.0.0
blake3
kornia>=0.7.1
spandrel
pydantic~=2.0
pydantic-settings~=2.0
PyOpenGL>=3.1.8
comfy-angle
"""
#: Comfy-Org/ComfyUI tests-unit/requirements.txt at d727ef92c1b8119fb4f7d96d1c073bee5c1ded0c
TEST_REQUIREMENTS = """\
pytest>=7.8.0
pytest-aiohttp
pytest-asyncio
typing_extensions
websocket-client
"""
#: the recipe's torch step (suites/comfyui.yaml, cpu)
TORCH = "torch\ntorchvision\ntorchaudio\n"


def clean_env(work: Path) -> dict[str, str]:
    """No pip or uv configuration from this machine; caches in ``work`` (empty)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_CACHE_DIR=str(work / "pip-cache"),
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(work / "uv-cache"),
    )
    return env


def prepare(wheels: Path, torch_dir: Path, reqs: Path) -> None:
    """Every wheel of the set in ``wheels`` (torch from ``torch_dir``), once."""
    if any(wheels.glob("torch-*.whl")) and (wheels / ".complete").is_file():
        return
    wheels.mkdir(parents=True, exist_ok=True)
    torch = sorted(torch_dir.glob("torch-*+cpu-*.whl"))
    if not torch:
        sys.exit(f"no CPU torch wheel in {torch_dir} (--torch)")
    pin = wheels / "torch-pin.txt"
    pin.write_text(f"torch=={torch[-1].name.split('-')[1]}\n")
    print(f"prepare: downloading the set into {wheels} (pinning {pin.read_text().strip()})")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
         "--find-links", str(torch_dir), "-d", str(wheels), "-r", str(reqs), "-c", str(pin)],
        check=True,
    )  # fmt: skip
    (wheels / ".complete").write_text("")


def freeze(python: Path, env: dict[str, str]) -> dict[str, str]:
    out = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(out)}


@dataclass(frozen=True)
class Build:
    installer: str
    venv_s: float
    install_s: float
    packages: dict[str, str]


def build(kind: str, wheels: Path, reqs: Path, work: Path) -> Build:
    """One environment from the wheel folder with ``kind`` (pip, uv, uv+compile)."""
    env = clean_env(work)
    venv = work / "venv"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    venv_s = time.perf_counter() - started
    python = venv / "bin" / "python"
    source = ["--no-index", "--find-links", str(wheels), "-r", str(reqs)]
    if kind == "pip":
        cmd = [str(python), "-m", "pip", "install", "-q", *source]
    else:
        cmd = [uv_binary(), "pip", "install", "-q", "--python", str(python), *source]
        if kind == "uv+compile":
            cmd.append("--compile-bytecode")
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    install_s = time.perf_counter() - started
    return Build(kind, venv_s, install_s, freeze(python, env))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheels", type=Path, default=ROOT / ".bench-cache" / "comfyui-wheels")
    ap.add_argument("--torch", type=Path, default=Path("/opt/wheels"))
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="env-build-") as tmp:
        reqs = Path(tmp) / "requirements.txt"
        reqs.write_text(TORCH + REQUIREMENTS + TEST_REQUIREMENTS)
        prepare(args.wheels, args.torch, reqs)
        wheel_count = len(list(args.wheels.glob("*.whl")))
        runs = []
        for kind in ("pip", "uv", "uv+compile"):
            work = Path(tmp) / kind.replace("+", "-")
            work.mkdir()
            runs.append(build(kind, args.wheels, reqs, work))
            shutil.rmtree(work)  # disk: each environment is over 1 GB
            r = runs[-1]
            if not args.json:
                print(f"{kind:11s} install {r.install_s:7.1f} s  (venv {r.venv_s:.1f} s,"
                      f" {len(r.packages)} distributions)")  # fmt: skip
    pip, uv, uvc = (r.install_s for r in runs)
    same = runs[0].packages == runs[1].packages == runs[2].packages
    figures = {
        "uv": uv_version(uv_binary()),
        "wheels": wheel_count,
        "pip_s": round(pip, 1),
        "uv_s": round(uv, 1),
        "uv_compile_s": round(uvc, 1),
        "pip_over_uv": round(pip / uv, 2),
        "pip_over_uv_compile": round(pip / uvc, 2),
        "same_distributions": same,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{figures['uv']}, {wheel_count} wheels; same distributions: {same}")
        print(f"pip/uv = {figures['pip_over_uv']}  pip/(uv --compile-bytecode) = "
              f"{figures['pip_over_uv_compile']}")  # fmt: skip
    if not same:
        for other in runs[1:]:
            pa, pb = runs[0].packages, other.packages
            diff = {k: (pa.get(k), pb.get(k)) for k in pa.keys() | pb.keys()}
            diff = {k: v for k, v in diff.items() if v[0] != v[1]}
            print(f"pip vs {other.installer}: {diff}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
