"""``harness --help`` and ``--version`` import no command: each command is imported when
it runs, and the top-level help lists them from ``harness.cli.COMMANDS``. How fast that
is: ``bench/cli_startup.py``."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import click
import pytest

from harness.cli import COMMANDS, cli

#: what a command's module may pull in; never needed for ``--help`` or ``--version``
HEAVY = ("fastapi", "sqlalchemy", "docker", "github", "lxml", "alembic", "jinja2", "pydantic")


@pytest.mark.parametrize("args", [["--version"], ["--help"]], ids=["version", "help"])
def test_version_and_help_import_nothing_heavy(args: list[str]) -> None:
    code = (
        "import json, sys\n"
        "from harness.cli import main\n"
        f"rc = main({args!r})\n"
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(json.loads(proc.stderr.strip().splitlines()[-1]))
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert not {m for m in loaded if m.startswith("harness.cli.")}
    if args == ["--help"]:
        for name in COMMANDS:
            assert f"  {name} " in proc.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_listed_command_is_the_one_that_runs(name: str) -> None:
    module, _, attr = COMMANDS[name][0].partition(":")
    command = getattr(importlib.import_module(module), attr)
    assert isinstance(command, click.Command)
    assert command.name == name
    assert COMMANDS[name][1] == command.get_short_help_str(limit=200)
    ctx = click.Context(cli)
    assert cli.get_command(ctx, name) is command


def test_every_command_module_is_listed() -> None:
    from pathlib import Path

    import harness.cli

    modules = {p.stem for p in Path(harness.cli.__file__).parent.glob("*_cmd.py")}
    listed = {target.split(":")[0].rsplit(".", 1)[1] for target, _ in COMMANDS.values()}
    assert modules == listed
