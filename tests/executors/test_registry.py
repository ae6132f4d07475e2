"""The executor registry: built-ins with their declared capabilities, the sandbox rule
(declared isolation, nothing else) and the error for an unknown name."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.executors.base import Capabilities, Isolation, capabilities_of, isolates_untrusted
from harness.executors.registry import choose_executor, executor_choices, executor_entry


def test_builtin_executors_declare_what_they_do() -> None:
    local, docker = executor_entry("local"), executor_entry("docker")
    assert (local.capabilities.isolation, local.capabilities.cells) == (Isolation.NONE, "host")
    assert (docker.capabilities.isolation, docker.capabilities.cells) == (
        Isolation.CONTAINER,
        "image",
    )
    assert docker.capabilities.isolates_untrusted
    assert not local.capabilities.isolates_untrusted
    assert local.origin == docker.origin == "built-in"
    assert {"auto", "local", "docker"} <= set(executor_choices())


def test_an_executor_that_declares_nothing_is_no_sandbox() -> None:
    class Claims:
        name = "claims"
        isolates_untrusted = True  # an attribute, not a declaration

    class Declares:
        name = "declares"
        capabilities = Capabilities(isolation=Isolation.VM)

    assert capabilities_of(Claims) == Capabilities()
    assert not isolates_untrusted(Claims())
    assert isolates_untrusted(Declares())
    assert not Capabilities().passes_devices("npu")
    assert Capabilities().passes_devices("cpu")
    assert Capabilities(devices=("*",)).passes_devices("npu")


def test_an_unknown_executor_gets_a_did_you_mean() -> None:
    with pytest.raises(ConfigError) as err:
        executor_entry("dokcer")
    assert err.value.message == "unknown executor 'dokcer'"
    assert "did you mean 'docker'?" in (err.value.hint or "")
    assert "harness.executors" in (err.value.hint or "")
    with pytest.raises(ConfigError):
        choose_executor("dokcer")
