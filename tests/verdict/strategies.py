"""Hypothesis strategies for verdict inputs: result sets over a small id alphabet, so
that runs overlap."""

from __future__ import annotations

from hypothesis import strategies as st

from harness.results.model import OUTCOMES, Outcome
from harness.verdict.classify import RunOutcomes

TEST_IDS = st.sampled_from([f"tests.test_m{i % 3}::test_{i}" for i in range(12)])
OUTCOME = st.sampled_from(OUTCOMES)


def outcome_maps(min_size: int = 0) -> st.SearchStrategy[dict[str, Outcome]]:
    return st.dictionaries(TEST_IDS, OUTCOME, min_size=min_size)


@st.composite
def run_outcomes(draw: st.DrawFn, min_size: int = 0) -> RunOutcomes:
    outcomes = draw(outcome_maps(min_size))
    messages = {t: f"message of {t}" for t, o in outcomes.items() if o in {"failed", "error"}}
    return RunOutcomes(outcomes, messages)
