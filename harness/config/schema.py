"""The JSON Schema of suite files, generated from the typed model and checked in.

Editors use it for completion (``# yaml-language-server: $schema=...``); a test checks the
checked-in copy is current and that every file in ``suites/`` validates against it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.config.suite import Suite

SCHEMA_PATH = Path(__file__).with_name("suite.schema.json")
SCHEMA_ID = "https://github.com/accel-harness/harness/suite.schema.json"


def suite_json_schema() -> dict[str, Any]:
    schema = Suite.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "harness suite recipe"
    # durations are numbers or strings like "30m"; the model's float type hides that
    step = schema["$defs"]["Step"]["properties"]["timeout"]
    step.pop("type", None)
    step["anyOf"] = [
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "string", "pattern": r"^\s*(\d+h)?\s*(\d+m)?\s*(\d+s?)?\s*$"},
    ]
    return schema


def render_schema() -> str:
    return json.dumps(suite_json_schema(), indent=2, sort_keys=False) + "\n"
