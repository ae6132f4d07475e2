from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from harness.config.loader import load_suite
from harness.config.schema import SCHEMA_PATH, render_schema

SUITES = sorted((Path(__file__).resolve().parents[2] / "suites").glob("*.yaml"))


def test_checked_in_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text() == render_schema(), (
        "run `harness schema -o " + str(SCHEMA_PATH) + "`"
    )


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(jsonschema_load())


def jsonschema_load() -> dict:  # type: ignore[type-arg]
    import json

    return json.loads(SCHEMA_PATH.read_text())  # type: ignore[no-any-return]


def test_there_are_suites() -> None:
    assert any(p.stem == "comfyui" for p in SUITES)


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.name)
def test_every_suite_validates_against_schema_and_model(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    jsonschema.Draft202012Validator(jsonschema_load()).validate(data)
    load_suite(path)


def test_schema_rejects_what_the_model_rejects(tmp_path: Path) -> None:
    bad = yaml.safe_load(SUITES[0].read_text())
    bad["upstream"]["brnch"] = "x"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(jsonschema_load()).validate(bad)
