"""Parse ``npu-smi info`` and ``npu-smi info -l`` output (Ascend NPU driver tool).

The table layout differs between chips: 910B (A2) has a ``Chip`` column and an HBM column;
A3 (``Ascend910``) has ``Chip  Phy-ID`` and two chips per NPU separated by a thin rule;
310P has ``Chip    Device``, wider columns and no HBM; a 200I A2 can show ``NA`` bus ids.
Numbers may lose the space before ``/`` (``46536/ 65536``). Inside a container the NPU
column shows *host* ids (6, 7, 1792, ...), which are not the logical indices that
``ASCEND_RT_VISIBLE_DEVICES`` takes: logical indices are the chips' order in the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_PAIR = re.compile(r"(\d+)\s*/\s*(\d+)")
_VERSION = re.compile(r"npu-smi\s+(\S+)\s+Version:\s*(\S+)")


@dataclass(frozen=True, slots=True)
class NpuChip:
    npu_id: int  # as npu-smi shows it (host id inside containers)
    chip_id: int
    logical_index: int  # order in the table: what ASCEND_RT_VISIBLE_DEVICES means
    name: str  # 910B, 910B3, Ascend910, 310P3, ...
    health: str
    bus_id: str | None
    phy_id: int | None = None  # A3: physical die id; 310P: device id
    power_w: float | None = None
    temp_c: float | None = None
    aicore_pct: float | None = None
    memory_used_mb: int | None = None
    memory_total_mb: int | None = None
    hbm_used_mb: int | None = None
    hbm_total_mb: int | None = None

    @property
    def healthy(self) -> bool:
        return self.health.upper() == "OK"


@dataclass(frozen=True, slots=True)
class NpuProcess:
    npu_id: int
    chip_id: int
    pid: int
    name: str
    memory_mb: int | None


@dataclass(slots=True)
class NpuSmiInfo:
    tool_version: str | None = None
    driver_version: str | None = None
    chips: list[NpuChip] = field(default_factory=list)
    processes: list[NpuProcess] = field(default_factory=list)

    @property
    def npu_ids(self) -> list[int]:
        return sorted({c.npu_id for c in self.chips})


def _cells(line: str) -> list[str] | None:
    line = line.strip()
    if not (line.startswith("|") and line.endswith("|")):
        return None
    return [c.strip() for c in line[1:-1].split("|")]


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _int(text: str | None) -> int | None:
    if text is None or not text.isdigit():
        return None
    return int(text)


def chip_family(name: str) -> str:
    """``910B3`` → ``910b``, ``Ascend910`` → ``a3``, ``310P3`` → ``310p``; else lowercased."""
    n = name.strip().lower()
    if n.startswith("ascend910"):
        return "a3"  # A3 servers report the dies as "Ascend910"
    m = re.match(r"^(910b|910|310p|310b|950)", n)
    return m.group(1) if m else n


def parse_npu_smi_info(text: str) -> NpuSmiInfo:
    """Parse ``npu-smi info``; lines before and after the tables are ignored."""
    info = NpuSmiInfo()
    in_processes = False
    pending: list[str] | None = None  # the first row of a chip's row pair
    logical = 0
    for raw in text.splitlines():
        if (m := _VERSION.search(raw)) is not None:
            info.tool_version, info.driver_version = m.group(1), m.group(2)
            continue
        cells = _cells(raw)
        if cells is None:
            continue
        joined = " ".join(cells)
        if "Process id" in joined:
            in_processes = True
            continue
        if ("Name" in joined and "Health" in joined) or joined.startswith(("Chip", "NPU ")):
            continue  # table headers
        if in_processes:
            _parse_process_row(cells, info)
            continue
        if len(cells) != 3:
            continue
        if pending is None:
            pending = cells
            continue
        info.chips.append(_chip_from_rows(pending, cells, logical))
        logical += 1
        pending = None
    return info


def _chip_from_rows(first: list[str], second: list[str], logical: int) -> NpuChip:
    npu_part = first[0].split()
    npu_id = int(npu_part[0])
    name = " ".join(npu_part[1:]) or "unknown"
    health = first[1]
    stats = first[2].split()
    power = _num(stats[0]) if stats else None
    temp = _num(stats[1]) if len(stats) > 1 else None
    chip_part = second[0].split()
    chip_id = int(chip_part[0])
    phy_id = _int(chip_part[1]) if len(chip_part) > 1 else None
    bus_id = second[1] if second[1] and second[1].upper() != "NA" else None
    usage = second[2]
    aicore = _num(usage.split()[0]) if usage.split() else None
    pairs = [(int(a), int(b)) for a, b in _PAIR.findall(usage)]
    mem = pairs[0] if pairs else (None, None)
    hbm = pairs[1] if len(pairs) > 1 else (None, None)
    return NpuChip(
        npu_id=npu_id,
        chip_id=chip_id,
        logical_index=logical,
        name=name,
        health=health,
        bus_id=bus_id,
        phy_id=phy_id,
        power_w=power,
        temp_c=temp,
        aicore_pct=aicore,
        memory_used_mb=mem[0],
        memory_total_mb=mem[1],
        hbm_used_mb=hbm[0],
        hbm_total_mb=hbm[1],
    )


def _parse_process_row(cells: list[str], info: NpuSmiInfo) -> None:
    if len(cells) < 4 or cells[0].startswith("No running"):
        return
    ids = cells[0].split()
    if len(ids) < 2 or not ids[0].isdigit() or not cells[1].isdigit():
        return
    info.processes.append(
        NpuProcess(
            npu_id=int(ids[0]),
            chip_id=int(ids[1]),
            pid=int(cells[1]),
            name=cells[2],
            memory_mb=_int(cells[3]),
        )
    )


@dataclass(frozen=True, slots=True)
class NpuListEntry:
    npu_id: int
    chip_count: int | None
    product_name: str | None


def parse_npu_smi_list(text: str) -> tuple[int | None, list[NpuListEntry]]:
    """Parse ``npu-smi info -l``: (the ``Total Count``/``Card Count`` value, entries)."""
    total: int | None = None
    entries: list[NpuListEntry] = []
    current: dict[str, str] = {}

    def flush() -> None:
        if "NPU ID" in current and current["NPU ID"].isdigit():
            product = current.get("Product Name")
            entries.append(
                NpuListEntry(
                    npu_id=int(current["NPU ID"]),
                    chip_count=_int(current.get("Chip Count")),
                    product_name=None if product in (None, "NA") else product,
                )
            )

    for raw in text.splitlines():
        key, sep, value = raw.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key in {"Total Count", "Card Count"}:
            total = _int(value)
        elif key == "NPU ID":
            flush()
            current = {"NPU ID": value}
        elif current:
            current[key] = value
    flush()
    return total, entries
