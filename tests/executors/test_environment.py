from __future__ import annotations

from harness.executors.environment import filtered_host_env, suite_env


def test_allow_list_and_secret_filter() -> None:
    host = {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "LC_ALL": "C.UTF-8",
        "PIP_FIND_LINKS": "/wheels",
        "PIP_INDEX_URL": "https://mirror/simple",
        "HARNESS_TORCH_PACKAGES": "torch==2.9.1",
        "HARNESS_DB": "postgresql://u:pw@db/h",
        "GITHUB_TOKEN": "ghs_x",
        "HARNESS_GITHUB_TOKEN": "ghs_y",
        # the service's credentials, even the ones that only name a file or an id
        "HARNESS_GITHUB_TOKEN_FILE": "/etc/harness/token",
        "HARNESS_GITHUB_APP_KEY_FILE": "/etc/harness/app.pem",
        "HARNESS_GITHUB_APP_ID": "123",
        "HARNESS_WEBHOOK_SECRET": "s",
        "AWS_SECRET_ACCESS_KEY": "x",
        "MY_API_KEY": "x",
        "RANDOM_THING": "x",
        "https_proxy": "http://proxy:3128",
    }
    env = filtered_host_env(host)
    assert set(env) == {
        "PATH", "HOME", "LC_ALL", "PIP_FIND_LINKS", "PIP_INDEX_URL", "HARNESS_TORCH_PACKAGES",
        "https_proxy",
    }  # fmt: skip


def test_explicit_pass_env_wins() -> None:
    env = filtered_host_env({"HF_TOKEN": "x", "RANDOM_THING": "y"}, pass_env=["HF_TOKEN"])
    assert env == {"HF_TOKEN": "x"}


def test_operator_values_override_suite_defaults_except_pinned_ones() -> None:
    layers = [
        {"KNOB": "suite", "PINNED": "suite", "ONLY_SUITE": "suite"},
        {"KNOB": "backend"},  # a later layer (backend, then step) is more specific
    ]
    operator = {"KNOB": "operator", "PINNED": "operator", "PATH": "/usr/bin"}
    assert suite_env(layers, operator, pinned=["PINNED"]) == {
        "PINNED": "suite",
        "ONLY_SUITE": "suite",
    }
    # an operator's empty value is a value too (llama.cpp: HARNESS_CTEST_EXCLUDE="")
    assert suite_env(layers, {"KNOB": ""}, pinned=()) == {
        "PINNED": "suite",
        "ONLY_SUITE": "suite",
    }
    assert suite_env(layers, {}, pinned=()) == {
        "KNOB": "backend",
        "PINNED": "suite",
        "ONLY_SUITE": "suite",
    }
