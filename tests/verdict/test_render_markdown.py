"""The pull-request comment: order of sections, the reproduce command, and nothing from
upstream turning into markup."""

from __future__ import annotations

from dataclasses import replace

from harness.fingerprint import EnvChange
from harness.results.model import Outcome
from harness.verdict.baseline import BaselineChoice
from harness.verdict.classify import RunOutcomes
from harness.verdict.render_markdown import MAX_LISTED, marker, render_markdown
from harness.verdict.report import build_verdict
from tests.verdict.test_baseline import pr, rec

P, F = Outcome.PASSED, Outcome.FAILED
HOSTILE = "tests.test_x::test_<script>alert(1)</script>[@admin #12 ](javascript:x)"
MESSAGE = "AssertionError: boom\n\n</details></pre><img src=x onerror=alert(1)>\n@maintainer"


def verdict(current: dict[str, Outcome], base: dict[str, Outcome], **kw: object):  # type: ignore[no-untyped-def]
    run = replace(pr(9, "b" * 40), cell="demo/npu/host")
    choice = BaselineChoice(rec(3, "b" * 40), True, "run 3 at the merge base")
    messages = {t: MESSAGE for t, o in current.items() if o is F}
    return build_verdict(
        run, RunOutcomes(current, messages), choice, RunOutcomes(base), result_format="junit", **kw
    )


def test_new_failures_come_first_with_message_and_reproduction() -> None:
    v = verdict(
        {"t::new": F, "t::old": F, "t::fixed": P, "t::ok": P},
        {"t::new": P, "t::old": F, "t::fixed": F, "t::ok": P},
    )
    text = render_markdown(v)
    # the heading is Markdown: punctuation from the cell id is backslash-escaped
    assert text.startswith(marker("demo/npu/host") + "\n### ❌ demo\\/npu\\/host: 1 new failure")
    assert text.index("NEW FAILURES (1)") < text.index("BROKEN TRUNK (1)") < text.index("FIXED (1)")
    assert "harness run demo/npu/host --ref " + "f" * 40 + " --test-args t.py::new" in text
    # only the new failures are open; the rest are collapsed
    assert "<details><summary><b>BROKEN TRUNK (1)</b></summary>" in text
    assert "Conclusion: <b>failure</b>" in text


def test_upstream_text_never_becomes_markup() -> None:
    v = verdict({HOSTILE: F}, {HOSTILE: P})
    text = render_markdown(v)
    assert "<script>" not in text
    assert "<img" not in text
    assert "</pre><img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    # raw @mentions and issue refs sit only inside <code>/<pre>, where GitHub links nothing
    for name in ("@maintainer", "@admin", "#12"):
        start = 0
        while (at := text.find(name, start)) != -1:
            assert inside_code(text, at), (name, text[max(0, at - 80) : at + 20])
            start = at + 1
    # a blank line would end the HTML block early: none inside <pre>
    for block in text.split("<pre>")[1:]:
        assert "\n\n" not in block.split("</pre>")[0]


def test_long_sections_are_cut_and_drift_is_shown() -> None:
    current = {f"t::n{i:03d}": F for i in range(MAX_LISTED + 5)}
    v = verdict(
        current, dict.fromkeys(current, P), drift=[EnvChange("sdk", "CANN 8.3", "CANN 8.5")]
    )
    text = render_markdown(v)
    assert "… and 5 more: <code>harness verdict 9</code>" in text
    assert "<li>sdk: <code>CANN 8.3</code> → <code>CANN 8.5</code></li>" in text
    assert "EXPLAINED BY ENVIRONMENT DRIFT (30)" in text
    assert v.conclusion.value == "neutral"


def test_marker_cannot_close_the_comment_early() -> None:
    assert marker("a-->b") == "<!-- harness-verdict: a- -&gt;b -->"


def inside_code(text: str, at: int) -> bool:
    """Whether position ``at`` is inside a <code> or <pre> element."""
    for tag in ("code", "pre"):
        opened = text.rfind(f"<{tag}>", 0, at)
        if opened != -1 and text.rfind(f"</{tag}>", opened, at) == -1:
            return True
    return False
