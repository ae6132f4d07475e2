"""images/matrix.yaml: expansion into readable variant ids, defaults, and errors that
name the file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.images.matrix import load_matrix

ROOT = Path(__file__).resolve().parents[2]

SMALL = """\
python_versions: {"3.11": "3.11.13"}
families:
  - family: cann
    backend: npu
    template: cann-openeuler.Dockerfile.j2
    os: openeuler
    os_version: ["24.03"]
    cann: ["8.3.rc2", "9.0.1"]
    chip: [910b, "950"]
    python: ["3.11"]
    exclude:
      - {chip: 910b, cann: "9.0.1"}
    default:
      - {chip: "950"}
  - family: cpu
    backend: cpu
    template: debian.Dockerfile.j2
    os: debian
    os_version: "12"
    python: "3.11"
    arch: [amd64]
"""


def images_dir(tmp_path: Path, text: str) -> Path:
    d = tmp_path / "images"
    d.mkdir()
    for name in ("cann-openeuler.Dockerfile.j2", "debian.Dockerfile.j2"):
        shutil.copy(ROOT / "images" / name, d / name)
    (d / "matrix.yaml").write_text(text)
    return d


def test_expansion_exclusions_and_defaults(tmp_path: Path) -> None:
    m = load_matrix(images_dir(tmp_path, SMALL))
    # 950 needs CANN 9: the 8.3 combination is no variant; 910b x 9.0.1 is excluded
    assert [v.id for v in m.variants] == [
        "cann8.3.rc2-910b-openeuler24.03-py3.11",
        "cann9.0.1-950-openeuler24.03-py3.11",
        "debian12-py3.11",
    ]
    assert [v.id for v in m.for_backend("npu")] == ["cann9.0.1-950-openeuler24.03-py3.11"]
    assert [v.id for v in m.for_backend("npu", ["cann8*"])] == [
        "cann8.3.rc2-910b-openeuler24.03-py3.11"
    ]
    assert m.for_backend("cpu") == []  # no default declared
    assert m.by_id("debian12-py3.11").arches == ("amd64",)
    with pytest.raises(ConfigError, match="no image variant 'nope'"):
        m.by_id("nope")


def test_the_shipped_matrix() -> None:
    m = load_matrix(ROOT / "images")
    ids = {v.id for v in m.variants}
    assert "cann8.5.0-910b-openeuler24.03-py3.11" in ids
    assert "cann8.3.rc2-a3-openeuler22.03-py3.10" in ids
    assert not any(i.startswith("cann8.5.0-950") for i in ids)
    assert {v.backend for v in m.variants if v.default} == {"npu", "cpu", "cuda"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("chip: [910b,", "chip: [910x,"),
            r"matrix.yaml:9:\d+: families\[0\].chip: unknown chip .910x.",
        ),
        (("    arch: [amd64]", "    arch: [riscv]"), "unknown arch 'riscv'"),
        (("template: debian", "template: ubuntu"), r"matrix.yaml:\d+:\d+: no template"),
        (("exclude:\n      - {chip: 910b", "exclude:\n      - {sku: 910b"), "'sku' is not one of"),
        (("    os: debian", "    os: debian\n    colour: blue"), "colour"),
        (('python_versions: {"3.11": "3.11.13"}', "python_versions: {}"), "python_versions"),
    ],
)
def test_bad_matrix_files(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    d = images_dir(tmp_path, SMALL.replace(*change))
    with pytest.raises(ConfigError, match=expected):
        load_matrix(d)
