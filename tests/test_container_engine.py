"""The container engine on a real daemon: builds stream and are skipped when their tag
exists; a failed build names its step and keeps the log tail; containers are removed."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from harness.container_engine import LABEL, ContainerEngine, ImageBuildError, Limits, RunSpec
from harness.images.render import BuildSpec
from tests.docker_support import debian_base, require_docker


@pytest.fixture(scope="module")
def engine() -> ContainerEngine:
    return require_docker()


@pytest.fixture(scope="module")
def base(engine: ContainerEngine) -> str:
    return debian_base(engine)


def test_build_once_then_no_op(engine: ContainerEngine, base: str) -> None:
    spec = BuildSpec("harness-test/engine", f"FROM {base}\nRUN echo built > /built.txt\n")
    engine.remove_image(spec.tag)
    lines: list[str] = []
    image_id, built = engine.build(spec, lines.append)
    assert built
    assert any(line.startswith("Step 2/3 : RUN echo built") for line in lines)
    again_id, again = engine.build(spec, lines.append)
    assert (again_id, again) == (image_id, False)
    mine = {"org.accel-harness.test": uuid.uuid4().hex}  # other tests run beside this one
    spec_run = RunSpec(image=spec.tag, command=["cat", "/built.txt"], timeout_s=60, labels=mine)
    result = engine.run(spec_run)
    assert (result.exit_code, result.tail) == (0, ("built",))
    only_mine = [LABEL, "org.accel-harness.test=" + mine["org.accel-harness.test"]]
    assert engine.client.containers.list(all=True, filters={"label": only_mine}) == []


def test_a_failed_build_names_the_step_and_keeps_the_tail(
    engine: ContainerEngine, base: str
) -> None:
    dockerfile = (
        f"FROM {base}\nRUN echo preparing\n"
        "RUN echo 'compiling kernels' && echo 'fatal: no space for ops' >&2 && exit 3\n"
        "RUN echo never\n"
    )
    spec = BuildSpec("harness-test/broken", dockerfile)
    with pytest.raises(ImageBuildError) as info:
        engine.build(spec)
    err = info.value
    assert err.step is not None
    assert err.step.startswith("step 3/5 (RUN echo 'compiling kernels'")
    assert "returned a non-zero code: 3" in err.error
    assert any("fatal: no space for ops" in line for line in err.tail)
    assert engine.image_id(spec.tag) is None


def test_limits_reach_the_container(engine: ContainerEngine, base: str) -> None:
    spec = RunSpec(
        image=base,
        command=[
            "sh",
            "-c",
            "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; id -u",
        ],
        user="1000:1000",
        limits=Limits(memory="128m", pids=64, cpus=0.5),
        timeout_s=60,
    )
    result = engine.run(spec)
    assert result.exit_code == 0
    assert result.tail == ("64", "1000")


def test_a_40_mb_line_without_a_newline_keeps_the_step_log(
    engine: ContainerEngine, base: str, tmp_path: Path
) -> None:
    mine = {"org.accel-harness.test": uuid.uuid4().hex}
    script = "head -c 41943040 /dev/zero | tr '\\0' x; echo; echo done"
    spec = RunSpec(image=base, command=["sh", "-c", script], timeout_s=300, labels=mine)
    log = tmp_path / "step.log"
    result = engine.run(spec, log_path=log, header="[harness] $ big line")
    assert result.exit_code == 0
    assert result.tail[-1] == "done"
    assert result.tail[-2].endswith("[…line cut]")
    assert log.stat().st_size > 40 << 20  # the whole line, not an erased log
    with log.open("rb") as f:
        assert f.readline() == b"[harness] $ big line\n"


def test_labels_are_one_build_step_and_stay_literal(engine: ContainerEngine, base: str) -> None:
    """Every label in one LABEL step (the engine's build argument made one step per label,
    each copying the image on a vfs engine); a value is never expanded."""
    labels = {"org.accel-harness.suite": "demo $HOME", "org.accel-harness.variant": 'a"b'}
    spec = BuildSpec("harness-test/labels", f"FROM {base}\nRUN true\n", labels=labels)
    engine.remove_image(spec.tag)
    lines: list[str] = []
    engine.build(spec, lines.append)
    steps = [line for line in lines if line.startswith("Step ")]
    assert [s.split(" : ")[1].split()[0] for s in steps] == ["FROM", "RUN", "LABEL"], steps
    got = engine.client.images.get(spec.tag).labels
    assert {k: got.get(k) for k in (LABEL, *labels)} == {LABEL: "1", **labels}
    engine.remove_image(spec.tag)
