"""The npu-smi parsers on real outputs (tests/backends/data, copied verbatim)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends.npu_smi import chip_family, parse_npu_smi_info, parse_npu_smi_list

DATA = Path(__file__).with_name("data")


def info(name: str):  # type: ignore[no-untyped-def]
    return parse_npu_smi_info((DATA / name).read_text())


def test_910b_x8_host() -> None:
    i = info("npu-smi-910b-x8.txt")
    assert i.tool_version == "24.1.0"
    assert i.driver_version == "24.1.0"
    assert [c.npu_id for c in i.chips] == list(range(8))
    assert [c.logical_index for c in i.chips] == list(range(8))
    assert {c.name for c in i.chips} == {"910B"}
    assert all(c.healthy for c in i.chips)
    c0 = i.chips[0]
    assert (c0.bus_id, c0.power_w, c0.temp_c) == ("0000:C1:00.0", 68.5, 40.0)
    assert (c0.memory_used_mb, c0.memory_total_mb) == (2382, 15038)
    assert (c0.hbm_used_mb, c0.hbm_total_mb) == (0, 32768)
    assert i.chips[7].hbm_used_mb == 124
    assert len(i.processes) == 1
    p = i.processes[0]
    assert (p.npu_id, p.chip_id, p.pid, p.name, p.memory_mb) == (7, 0, 87322, "python3", 109)


def test_910b3_in_container_keeps_host_ids_but_logical_indices_start_at_zero() -> None:
    i = info("npu-smi-910b3-x2-container.txt")
    assert [c.npu_id for c in i.chips] == [6, 7]
    assert [c.logical_index for c in i.chips] == [0, 1]
    assert i.chips[0].hbm_total_mb == 65536
    assert chip_family(i.chips[0].name) == "910b"
    assert i.processes == []


def test_a3_two_dies_per_npu_and_missing_power() -> None:
    i = info("npu-smi-a3-x8.txt")
    assert len(i.chips) == 16
    assert i.npu_ids == list(range(8))
    assert [(c.npu_id, c.chip_id, c.phy_id) for c in i.chips[:3]] == [
        (0, 0, 0),
        (0, 1, 1),
        (1, 0, 2),
    ]
    assert i.chips[1].power_w is None  # "-" for the second die
    assert (i.chips[0].hbm_used_mb, i.chips[0].hbm_total_mb) == (46536, 65536)  # "46536/ 65536"
    assert chip_family("Ascend910") == "a3"
    assert [(p.npu_id, p.chip_id, p.name) for p in i.processes[:2]] == [(0, 0, ""), (0, 1, "")]
    assert len(i.processes) == 4


def test_310p3_duo_in_container() -> None:
    i = info("npu-smi-310p3-duo-container.txt")
    assert i.tool_version == "24.1.rc2"
    assert [(c.npu_id, c.chip_id, c.phy_id) for c in i.chips] == [(1792, 0, 0), (1792, 1, 1)]
    assert i.chips[0].power_w is None  # NA
    assert (i.chips[1].memory_used_mb, i.chips[1].memory_total_mb) == (1041, 43693)
    assert i.chips[0].hbm_total_mb is None
    assert chip_family(i.chips[0].name) == "310p"


def test_310p3_single_without_top_border() -> None:
    i = info("npu-smi-310p3-single.txt")
    assert i.tool_version == "25.3.rc1"
    assert [(c.npu_id, c.name, c.memory_total_mb) for c in i.chips] == [(6, "310P3", 21525)]


def test_200i_a2_na_bus_id() -> None:
    i = info("npu-smi-200i-a2.txt")
    (chip,) = i.chips
    assert chip.bus_id is None
    assert (chip.memory_used_mb, chip.memory_total_mb) == (957, 10810)
    assert chip.name == "xxx"


@pytest.mark.parametrize(
    ("name", "total", "ids", "chips"),
    [
        ("npu-smi-l-card-count.txt", 1, [0], [1]),
        ("npu-smi-l-a3-total-count.txt", 1, [0], [2]),
        ("npu-smi-l-16.txt", 16, [0, 1, 2], [1, 1, 1]),
    ],
)
def test_npu_smi_list(name: str, total: int, ids: list[int], chips: list[int]) -> None:
    count, entries = parse_npu_smi_list((DATA / name).read_text())
    assert count == total
    assert [e.npu_id for e in entries] == ids
    assert [e.chip_count for e in entries] == chips
    assert all(e.product_name is None for e in entries)  # "NA" inside containers


def test_garbage_gives_no_chips() -> None:
    assert parse_npu_smi_info("command not found\n").chips == []
    assert parse_npu_smi_list("") == (None, [])
