"""A reporter plugin installed as a package (pip, into a directory of its own): the
registry finds it through the ``harness.reporters`` entry points, and ``harness worker``
delivers an outbox entry through it. Broken plugins fail with a clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.codehost.reporters import (
    ReporterContext,
    available_reporters,
    get_factory,
    load_reporters,
    reporter_origins,
)
from harness.errors import ConfigError
from harness.service import outbox
from harness.store import Store
from tests.chat_webhook import chat_webhook
from tests.plugin_packages import pip_install_plugin

PLUGIN_SRC = Path(__file__).parent / "reporter_plugin"
REPO = "example/demo"


@pytest.fixture(scope="module")
def reporter_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """harness-reporter-example installed with pip into its own directory."""
    site = pip_install_plugin(PLUGIN_SRC, tmp_path_factory.mktemp("reporter-plugin"))
    assert list(site.glob("harness_reporter_example-0.1.0.dist-info"))
    return site


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    yield s
    s.close()


def test_the_registry_finds_the_installed_plugin(
    reporter_site: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "jsonhook" not in available_reporters()
    monkeypatch.syspath_prepend(str(reporter_site))
    assert available_reporters() == ["chat", "github", "jsonhook"]
    assert reporter_origins() == {
        "chat": "built-in",
        "github": "built-in",
        "jsonhook": "harness-reporter-example 0.1.0",
    }
    context = ReporterContext(store, None, {"EXAMPLE_JSONHOOK_URL": "http://127.0.0.1:9/h"})
    assert sorted(load_reporters(context)) == ["jsonhook"]  # no GitHub credentials, no chat
    assert load_reporters(ReporterContext(store, None, {})) == {}  # not configured: none


def test_the_worker_delivers_an_entry_through_the_plugin(
    reporter_site: Path, store: Store, tmp_path: Path
) -> None:
    suites = tmp_path / "suites"
    (suites / "service").mkdir(parents=True)
    (suites / "service" / "config.yaml").write_text("vendor: acme\n")
    payload = {"message": "hello from the outbox"}
    with store.transaction("t") as tx:
        entry_id = tx.outbox.put(REPO, "jsonhook", "jsonhook:1", payload)
    with chat_webhook() as hook:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
        env |= {"PYTHONPATH": str(reporter_site), "EXAMPLE_JSONHOOK_URL": hook.url}
        db = store.engine.url.render_as_string(hide_password=False)
        proc = subprocess.run(
            [sys.executable, "-m", "harness", "worker", "--once", "--executor", "local",
             "--db", db, "--suites", str(suites)],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert hook.bodies() == [
            {"repository": REPO, "key": "jsonhook:1", "message": "hello from the outbox"}
        ]
    assert "reporters: jsonhook" in proc.stderr
    (sent,) = [e for e in outbox.list_entries(store) if e.id == entry_id]
    assert sent.state == "sent"


def test_doctor_lists_the_reporters_and_where_they_come_from(reporter_site: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    env |= {"PYTHONPATH": str(reporter_site), "COLUMNS": "200"}
    run = [sys.executable, "-m", "harness", "doctor", "--no-host"]
    report = subprocess.run(
        [*run, "--json"], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(report.stdout)["reporters"] == [
        {"name": "chat", "origin": "built-in"},
        {"name": "github", "origin": "built-in"},
        {"name": "jsonhook", "origin": "harness-reporter-example 0.1.0"},
    ]
    text = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120, check=True)
    assert "reporter jsonhook (harness-reporter-example 0.1.0)" in text.stdout


def write_plugin(root: Path, name: str, value: str, module: str) -> None:
    """A distribution registering ``name = value`` in ``harness.reporters``, with
    ``module`` as its code, on ``root`` (a directory put on sys.path)."""
    dist = root / f"harness_broken_{name}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: harness-broken-{name}\n"
                                   "Version: 1.0\n")  # fmt: skip
    (dist / "entry_points.txt").write_text(f"[harness.reporters]\n{name} = {value}\n")
    (root / f"{value.partition(':')[0]}.py").write_text(module)


def test_broken_plugins_and_unknown_names_are_configuration_errors(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_plugin(tmp_path, "crashes", "crashing_reporter:create", "import no_such_module\n")
    write_plugin(tmp_path, "notone", "not_a_reporter:create", "def create(context):\n"
                 "    return object()\n")  # fmt: skip
    write_plugin(tmp_path, "misnamed", "misnamed_reporter:create", (
        "from harness.codehost.chat import ChatReporter\n"
        "def create(context):\n    return ChatReporter({})\n"
    ))  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    context = ReporterContext(store, None, {})
    with pytest.raises(ConfigError, match=r"reporter plugin 'crashes' .* cannot be loaded: "
                       "ModuleNotFoundError"):  # fmt: skip
        load_reporters(context, ["crashes"])
    with pytest.raises(ConfigError, match="does not implement the Reporter protocol"):
        load_reporters(context, ["notone"])
    with pytest.raises(ConfigError, match=r"'misnamed' .* calls itself 'chat'"):
        load_reporters(context, ["misnamed"])
    with pytest.raises(ConfigError, match="unknown reporter 'chta'") as raised:
        get_factory("chta")
    assert "did you mean 'chat'?" in str(raised.value.hint)
    assert "harness.reporters" in str(raised.value.hint)


def test_two_reporters_for_one_kind_are_refused(store: Store) -> None:
    from harness.codehost.chat import ChatReporter
    from harness.codehost.reporters import by_kind

    one, two = ChatReporter({}), ChatReporter({})
    two.name = "other"
    with pytest.raises(ConfigError, match="reporters 'chat' and 'other' both deliver 'chat'"):
        by_kind([one, two])
