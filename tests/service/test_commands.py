from __future__ import annotations

from harness.config.service import Commands
from harness.service.commands import BadCommand, OkToTest, Recheck, Retest, parse_commands

WORDS = Commands()


def test_commands_on_their_own_lines() -> None:
    body = "Thanks!\n\n  RECHECK  \n/harness retest demo/npu/*\n/harness ok-to-test\n"
    assert parse_commands(body, WORDS) == [Recheck(), Retest("demo/npu/*"), OkToTest()]


def test_quoted_and_fenced_lines_are_not_commands() -> None:
    body = "> recheck\n```\nrecheck\n/harness ok-to-test\n```\nplease recheck this\n"
    assert parse_commands(body, WORDS) == []


def test_repeats_count_once_and_bad_retest_is_explained() -> None:
    found = parse_commands("recheck\nrecheck\n/harness retest\n/harness retest a b\n", WORDS)
    assert found[0] == Recheck()
    assert [type(c) for c in found] == [Recheck, BadCommand, BadCommand]
    assert "needs one cell pattern" in found[1].why


def test_configured_words() -> None:
    words = Commands(recheck="/acme recheck", retest="/acme test", ok_to_test="/acme ok")
    body = "recheck\n/acme recheck\n/acme test demo/*\n/acme ok"
    assert parse_commands(body, words) == [Recheck(), Retest("demo/*"), OkToTest()]
