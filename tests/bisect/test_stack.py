"""The search across the stack (pure): components tried alone on the good stack, then
the shared search over the named component's versions; and the fingerprint evidence
when no declared component changed."""

from __future__ import annotations

import pytest

from harness.bisect.search import Verdict
from harness.bisect.stack import search_stack
from harness.bisect.stack_bisection import fingerprint_differences
from harness.stack import ComponentChange

TORCH = [f"2.{i}.0" for i in range(10)]  # 2.0.0 .. 2.9.0


def judge_by(first_bad: str, versions: list[str], *, component: str = "torch", skip=()):  # type: ignore[no-untyped-def]
    """A probe that says bad from ``first_bad`` on (by the list's order), skip for the
    versions in ``skip``, and remembers what it was asked."""
    asked: list[dict[str, str]] = []

    def probe(_component: str, _version: str, pins: dict[str, str]) -> Verdict:
        asked.append(dict(pins))
        version = pins.get(component)
        if version in skip:
            return Verdict.SKIP
        if version is None or version not in versions:
            return Verdict.GOOD
        return Verdict.BAD if versions.index(version) >= versions.index(first_bad) else Verdict.GOOD

    return probe, asked


def test_names_the_first_bad_version_in_log2_probes() -> None:
    changes = [ComponentChange("torch", "2.0.0", "2.9.0")]
    probe, asked = judge_by("2.6.0", TORCH)
    answer = search_stack(changes, probe, {"torch": TORCH})
    assert (answer.outcome, answer.component, answer.version) == ("found", "torch", "2.6.0")
    assert answer.candidates == TORCH[1:]
    # the component alone (its bad version), then ceil(log2(9)) = 4 at most
    assert asked[0] == {"torch": "2.9.0"}
    assert len(asked) <= 1 + 4


@pytest.mark.parametrize("culprit", range(1, 8))
def test_each_position_is_found_within_log2(culprit: int) -> None:
    versions = [f"1.{i}" for i in range(8)]
    changes = [ComponentChange("lib", "1.0", "1.7")]
    probe, asked = judge_by(versions[culprit], versions, component="lib")
    answer = search_stack(changes, probe, {"lib": versions})
    assert answer.version == versions[culprit]
    assert len(asked) <= 1 + 3  # alone at 1.7, then log2(7 candidates) rounded up


def test_of_two_changed_components_the_one_that_matters_is_named() -> None:
    changes = [
        ComponentChange("torch", "2.0.0", "2.9.0"),
        ComponentChange("torch_npu", "1.0", "1.1"),
    ]
    probe, asked = judge_by("2.3.0", TORCH)
    answer = search_stack(changes, probe, {"torch": TORCH, "torch_npu": ["1.0", "1.1"]})
    assert (answer.component, answer.version) == ("torch", "2.3.0")
    # each alone on the good stack: the other component stays at its good version
    assert asked[:2] == [
        {"torch": "2.9.0", "torch_npu": "1.0"},
        {"torch": "2.0.0", "torch_npu": "1.1"},
    ]
    assert all(p["torch_npu"] == "1.0" for p in asked[2:])


def test_unlisted_versions_name_the_component_at_its_bad_version() -> None:
    changes = [ComponentChange("cann", "8.0", "8.1")]
    probe, asked = judge_by("8.1", ["8.0", "8.1"], component="cann")
    answer = search_stack(changes, probe, {"cann": None})
    assert (answer.outcome, answer.version) == ("found", "8.1")
    assert len(asked) == 1


def test_skipped_versions_give_the_component_and_a_range() -> None:
    """``git bisect skip`` semantics over versions: one that cannot be installed is left
    out; when only skipped ones lie before the first bad, the answer is the range."""
    changes = [ComponentChange("torch", "2.0.0", "2.9.0")]
    probe, _ = judge_by("2.6.0", TORCH, skip={"2.5.0"})
    answer = search_stack(changes, probe, {"torch": TORCH})
    assert (answer.outcome, answer.component, answer.version) == ("component", "torch", None)
    assert answer.suspects == ["2.5.0", "2.6.0"]
    probe, _ = judge_by("2.5.0", TORCH, skip={"2.4.0", "2.5.0"})
    answer = search_stack(changes, probe, {"torch": TORCH})
    assert answer.suspects == ["2.4.0", "2.5.0", "2.6.0"]
    assert "could not be tested" in answer.reason
    # a skipped version that is not in the way does not matter
    probe, _ = judge_by("2.6.0", TORCH, skip={"2.2.0"})
    assert search_stack(changes, probe, {"torch": TORCH}).version == "2.6.0"


def test_the_budget_bounds_the_version_search() -> None:
    changes = [ComponentChange("torch", "2.0.0", "2.9.0")]
    probe, asked = judge_by("2.6.0", TORCH)
    answer = search_stack(changes, probe, {"torch": TORCH}, max_probes=1)
    assert answer.outcome == "component"
    assert "budget (1) spent" in answer.reason
    assert len(asked) == 2  # the component alone, then one version


def test_a_flaky_version_ends_it_as_flaky() -> None:
    changes = [ComponentChange("torch", "2.0.0", "2.9.0")]

    def probe(_c: str, version: str, _pins: dict[str, str]) -> Verdict:
        return Verdict.FLAKY if version == "2.4.0" else Verdict.BAD

    answer = search_stack(changes, probe, {"torch": TORCH})
    assert answer.outcome == "flaky"
    assert answer.flaky_at == ("torch", "2.4.0")
    assert answer.reason.startswith("flaky, not a regression")


def test_no_component_alone_flips_the_tests() -> None:
    changes = [ComponentChange("torch", "2.0.0", "2.9.0"), ComponentChange("cann", "8.0", "8.1")]
    answer = search_stack(changes, lambda *_: Verdict.GOOD, {})
    assert answer.outcome == "none"
    assert answer.component is None


def test_a_downgrade_is_searched_from_good_down_to_bad() -> None:
    changes = [ComponentChange("torch", "2.9.0", "2.0.0")]
    downward = list(reversed(TORCH))  # bad from 2.4.0 down
    probe, _ = judge_by("2.4.0", downward)
    answer = search_stack(changes, probe, {"torch": TORCH})
    assert (answer.outcome, answer.version) == ("found", "2.4.0")


def test_fingerprint_differences_name_the_fields_that_changed() -> None:
    good = {
        "backend": {"name": "npu", "driver": "24.1.0", "cann": "8.0"},
        "image": {"digest": "sha256:aaa"},
        "python": {"version": "3.11", "packages": {"numpy": "2.0", "torch": "2.9.0"}},
    }
    bad = {
        "backend": {"name": "npu", "driver": "24.1.1", "cann": "8.0"},
        "image": {"digest": "sha256:bbb"},
        "python": {"version": "3.11", "packages": {"numpy": "2.1", "torch": "2.9.0"}},
    }
    assert fingerprint_differences(good, bad) == {
        "driver": ["24.1.0", "24.1.1"],
        "image": ["sha256:aaa", "sha256:bbb"],
        "packages.numpy": ["2.0", "2.1"],
    }
    assert fingerprint_differences(good, good) == {}
