from __future__ import annotations

from harness.config.templating import as_environment, render, unknown_variables


def test_render_replaces_only_known_variables() -> None:
    text = "pytest --junitxml={results_dir}/x.xml {args} ${HOME} {a,b} awk '{print $1}' {{x}}"
    out = render(text, {"results_dir": "/r", "args": "-k fast"})
    assert out == "pytest --junitxml=/r/x.xml -k fast ${HOME} {a,b} awk '{print $1}' {{x}}"


def test_known_variable_without_value_is_empty() -> None:
    assert render("run {args}", {}) == "run "


def test_unknown_variables_suggest() -> None:
    msg = unknown_variables("{resuls_dir} {zzz}")
    assert msg is not None
    assert "{resuls_dir}; did you mean {results_dir}?" in msg
    assert "unknown variable {zzz} " in msg or "unknown variable {zzz}" in msg
    assert unknown_variables("{python} -m pytest") is None


def test_as_environment() -> None:
    assert as_environment({"results_dir": "/r", "other": "x"}) == {"HARNESS_RESULTS_DIR": "/r"}
