"""Commands in pull-request comments (pure): ``recheck``, ``/harness retest PATTERN``,
``/harness ok-to-test`` (the words are configurable).

A command is a line of its own (surrounding spaces and case do not matter). Quoted lines
(``> recheck`` in a reply) and lines in fenced code blocks are not commands, so quoting
someone's recheck, or a bot's "comment recheck to retry" help text, triggers nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.config.service import Commands


@dataclass(frozen=True, slots=True)
class Recheck:
    """Run every cell again at the pull request's head."""


@dataclass(frozen=True, slots=True)
class Retest:
    pattern: str


@dataclass(frozen=True, slots=True)
class OkToTest:
    """A trusted user approves an untrusted pull request."""


@dataclass(frozen=True, slots=True)
class BadCommand:
    line: str
    why: str


Command = Recheck | Retest | OkToTest | BadCommand


def _command_lines(body: str) -> list[str]:
    lines: list[str] = []
    fenced = False
    for raw in body.splitlines():
        line = raw.strip()
        if line.startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced or not line or line.startswith(">"):
            continue
        lines.append(line)
    return lines


def parse_commands(body: str, words: Commands) -> list[Command]:
    """The commands in a comment, in order, without repeats."""
    found: list[Command] = []
    recheck, retest, ok = (
        w.strip().lower() for w in (words.recheck, words.retest, words.ok_to_test)
    )
    for line in _command_lines(body):
        low = line.lower()
        cmd: Command | None = None
        if low == recheck:
            cmd = Recheck()
        elif low == ok:
            cmd = OkToTest()
        elif low == retest or low.startswith(retest + " "):
            pattern = line[len(retest) :].strip()
            if not pattern or len(pattern.split()) != 1:
                cmd = BadCommand(
                    line, f"{words.retest} needs one cell pattern, e.g. 'comfyui/npu/*'"
                )
            else:
                cmd = Retest(pattern)
        if cmd is not None and cmd not in found:
            found.append(cmd)
    return found
