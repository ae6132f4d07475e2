"""pytest plugin: pin each pytest-xdist worker to one device.

An 8-NPU runner can run 8 workers safely only if each worker sees one NPU. The harness
sets ``HARNESS_SHARD_BACKEND`` (``npu``, ``cuda``, ``cpu`` or a plugin's name) and
``HARNESS_SHARD_DEVICES`` (the logical device indices this cell may use, e.g. ``0,1,2,3``)
and the recipe adds ``-n N -p harness_device_shard``. Worker ``gwI`` then gets device
``devices[I mod len(devices)]`` before any test module (or torch) is imported:

* ``npu``  → ``ASCEND_RT_VISIBLE_DEVICES=<index>``
* ``cuda`` → ``CUDA_VISIBLE_DEVICES=<index>``
* ``cpu``  → the worker's CPU affinity is set to its share of the listed cores
* other    → the variable the backend names (the harness sets ``HARNESS_SHARD_VISIBLE_ENV``
  from the backend's ``visible_devices_env``, which also wins for npu and cuda)

Every worker also gets ``HARNESS_DEVICE_INDEX`` (its device) and ``HARNESS_WORKER_INDEX``.
Without xdist (or without the variables) the plugin does nothing.
"""

from __future__ import annotations

import os

VISIBLE_ENV = {"npu": "ASCEND_RT_VISIBLE_DEVICES", "cuda": "CUDA_VISIBLE_DEVICES"}


def _worker_index() -> int | None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        return int(worker[2:])
    return None


def pin_current_process() -> dict[str, str]:
    """Apply the pinning for this worker; returns what was set (for tests and logs)."""
    index = _worker_index()
    backend = os.environ.get("HARNESS_SHARD_BACKEND")
    devices = [d for d in os.environ.get("HARNESS_SHARD_DEVICES", "").split(",") if d.strip()]
    if index is None or not backend or not devices:
        return {}
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0) or len(devices)
    applied = {"HARNESS_WORKER_INDEX": str(index)}
    if backend == "cpu":
        cores = [int(c) for c in devices]
        share = [
            c for i, c in enumerate(cores) if i % min(workers, len(cores)) == index % len(cores)
        ]
        os.sched_setaffinity(0, share)
        applied["HARNESS_DEVICE_INDEX"] = str(index % len(cores))
        applied["HARNESS_CPUSET"] = ",".join(map(str, share))
        applied["OMP_NUM_THREADS"] = str(len(share))
    else:
        device = devices[index % len(devices)].strip()
        var = os.environ.get("HARNESS_SHARD_VISIBLE_ENV") or VISIBLE_ENV.get(backend)
        if var:
            applied[var] = device
        applied["HARNESS_DEVICE_INDEX"] = device
    os.environ.update(applied)
    return applied


# Runs when pytest loads the plugin (-p), which is before conftest files and test modules
# are imported, so frameworks initialise with the pinned device.
PINNED = pin_current_process()


def pytest_report_header() -> list[str]:
    if PINNED:
        return [f"harness device shard: {PINNED}"]
    return []
