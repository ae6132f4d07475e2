"""Failures with a usual cause say what to do next."""

from __future__ import annotations

import pytest

from harness.next_steps import next_step, with_next_step


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("fatal: unable to access 'https://github.com/x/y/': Could not resolve host: github.com",
         "--source DIR|URL"),
        ("ERROR: No matching distribution found for torchaudio", "HARNESS_TORCH_INDEX_URL"),
        ("ERROR: Could not find a version that satisfies the requirement torch==9.9",
         "local wheel folder"),
        ("backend npu is not usable here: no /dev/davinci* device", "harness doctor"),
    ],
)  # fmt: skip
def test_usual_causes_get_their_next_step(text: str, says: str) -> None:
    advice = next_step([text])
    assert advice is not None
    assert says in advice


def test_other_failures_are_left_as_they_are() -> None:
    assert next_step(["AssertionError: 1 != 2", "No matching distribution found for numpy"]) is None
    assert with_next_step("setup step failed", ["boom"]) == "setup step failed"
