"""A verdict as Markdown for a pull-request comment, in the style of PyTorch's Dr. CI:
a headline with counts, new failures first (message head and the command that
reproduces each locally), then flaky, pre-existing and the rest in collapsed sections.

Test ids, messages, refs and reasons come from upstream code and must not become markup:
every such string is HTML-escaped and placed only inside HTML blocks (``<p>``, ``<ul>``,
``<details>``), where GitHub's Markdown renders nothing, and inside ``<code>``/``<pre>``,
where it links no ``@mention`` or ``#issue``. Control characters are shown as escapes and
blank lines inside ``<pre>`` are filled, so nothing can end an HTML block early. The
comment starts with a hidden marker (``<!-- harness-verdict: CELL -->``) a reporter can
find to edit the comment in place.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from harness.test_order import orders_text
from harness.verdict.categories import FAILING, Category, Conclusion, TestVerdict
from harness.verdict.classify import EXPLAINING_KEYS
from harness.verdict.report import Verdict

if TYPE_CHECKING:
    from harness.bisect.answer import BrokenSince

#: Tests listed per section; the rest are counted.
MAX_LISTED = 25
MESSAGE_LINES = 12
MESSAGE_CHARS = 1200
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
#: ASCII punctuation but & < > (HTML-escaped instead)
_MD_PUNCT = re.compile(r"[!-%'-/:;=?@\[-`{-~]")
ICONS = {Conclusion.FAILURE: "❌", Conclusion.NEUTRAL: "⚠️", Conclusion.SUCCESS: "✅"}


def marker(cell: str) -> str:
    """The hidden line a reporter finds its comment by."""
    return f"<!-- harness-verdict: {cell.replace('--', '- -').replace('>', '&gt;')} -->"


def _visible(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def esc(text: str) -> str:
    """One line of upstream text for HTML: escaped, control characters and line breaks
    shown as escapes."""
    return html.escape(_visible(text.replace("\r", "\\r").replace("\n", "\\n")), quote=True)


def md(text: str) -> str:
    """One line for a Markdown context (a heading): ASCII punctuation backslash-escaped,
    ``&<>`` HTML-escaped, control characters and line breaks shown as escapes."""
    line = _visible(text.replace("\r", "\\r").replace("\n", "\\n"))
    return html.escape(_MD_PUNCT.sub(r"\\\g<0>", line), quote=False)


def code(text: str) -> str:
    return f"<code>{esc(text)}</code>"


def pre(text: str) -> str:
    """A ``<pre>`` block with no blank line in it (a blank line would end the HTML
    block it sits in)."""
    lines = [html.escape(_visible(line.replace("\r", "")), quote=True) for line in text.split("\n")]
    return "<pre>" + "\n".join(line if line.strip() else "&nbsp;" for line in lines) + "</pre>"


def message_head(message: str | None) -> str:
    if not message:
        return ""
    lines = message.strip().splitlines()[:MESSAGE_LINES]
    text = "\n".join(lines)
    return text[:MESSAGE_CHARS] + ("…" if len(text) > MESSAGE_CHARS else "")


def _first_line(message: str | None, limit: int = 160) -> str:
    if not message or not message.strip():
        return ""
    line = message.strip().splitlines()[0]
    return line[:limit] + ("…" if len(line) > limit else "")


#: (category, title, explanation, open) in the order sections appear
SECTIONS: tuple[tuple[Category, str, str, bool], ...] = (
    (
        Category.NEW_FAILURE,
        "❌ NEW FAILURES",
        "These tests pass on the baseline and fail with this change.",
        True,
    ),
    (
        Category.NEW_TEST_FAILING,
        "❌ NEW TESTS FAILING",
        "These tests are new in this change and fail.",
        True,
    ),
    (
        Category.NEW_FAILURE_DRIFT,
        "⚠️ NEW FAILURES, EXPLAINED BY ENVIRONMENT DRIFT",
        "These tests pass on the baseline and fail here, but the software stack changed "
        "between the two runs (see above): not blamed on this change.",
        True,
    ),
    (
        Category.FLAKY,
        "FLAKY",
        "These tests failed but are likely flaky: they passed on a rerun, or their outcome "
        "flips on the default branch.",
        False,
    ),
    (
        Category.ORDER_DEPENDENT,
        "ORDER-DEPENDENT",
        "These tests fail in the test order this run used (pytest-randomly's seed), fail "
        "again when re-run in it, and pass in another order: they depend on the tests that "
        "ran before them. Reproduce with the run's selection and seed.",
        False,
    ),
    (
        Category.PRE_EXISTING,
        "BROKEN TRUNK",
        "These tests failed but were already failing on the baseline.",
        False,
    ),
    (
        Category.QUARANTINED,
        "QUARANTINED",
        "These tests failed but are quarantined on this backend.",
        False,
    ),
    (
        Category.INFRA_ERROR,
        "NOT RUN",
        "These baseline tests did not run: the run was cut short.",
        False,
    ),
    (Category.FIXED, "FIXED", "These tests fail on the baseline and pass here.", False),
    (Category.NEW_TEST_PASSING, "NEW TESTS", "These tests are new and pass.", False),
    (Category.REMOVED, "REMOVED", "These baseline tests are not in this run.", False),
)


def broken_since_text(since: BrokenSince) -> str:
    """``broken since <code>1a2b3c4d5e6f</code> (#123 / <code>subject</code>), confidence
    high``: the PR linked when its address is known, the subject (upstream text) in
    ``<code>``, where GitHub links no ``@mention`` or ``#issue``. A stack bisection's
    answer: ``broken since <code>torch 2.10.0</code> (the stack, not the code)``."""
    c = since.commit
    if c is None:
        moved = f"{since.component} {since.version}" if since.version else since.component
        out = f"broken since {code(moved or '?')} (the stack, not the code)"
        if since.version is None:
            out += ", first bad version not pinned down"
        if since.confidence:
            out += f", confidence {esc(since.confidence)}"
        return out + f" (bisection {since.bisection_id})"
    what = []
    if c.pr is not None:
        what.append(
            f'<a href="{esc(c.pr_url)}">#{c.pr}</a>'
            if c.pr_url and c.pr_url.startswith("https://")
            else f"#{c.pr}"
        )
    if c.subject:
        what.append(code(c.subject))  # upstream text: no @mention or #issue links
    out = f"broken since {code(c.short)}" + (f" ({' / '.join(what)})" if what else "")
    if since.confidence:
        out += f", confidence {esc(since.confidence)}"
    return out + f" (bisection {since.bisection_id})"


def _item(
    v: Verdict,
    t: TestVerdict,
    detailed: bool,
    broken_since: Mapping[str, BrokenSince] | None = None,
) -> str:
    parts = [code(t.test_id)]
    first = _first_line(t.message)
    if first:
        parts.append(f": {code(first)}")
    if t.quarantine is not None:
        link = (
            f' (<a href="{esc(t.quarantine.link)}">{esc(t.quarantine.link)}</a>)'
            if t.quarantine.link and t.quarantine.link.startswith(("https://", "http://"))
            else ""
        )
        parts.append(f" — quarantined: {esc(t.quarantine.reason)}{link}")
    if t.flake is not None and t.category is Category.FLAKY:
        parts.append(f" — {t.flake.flips} flips in the last {t.flake.runs} default-branch runs")
    if t.failed_orders or t.passed_orders:
        parts.append(" — " + orders_text(t.failed_orders, t.passed_orders, esc))
    elif t.reruns:
        parts.append(" — reruns: " + ", ".join(o.value for o in t.reruns))
    if t.outcome is None and t.baseline_outcome is not None:
        parts.append(f" (was {t.baseline_outcome.value})")
    since = (broken_since or {}).get(t.test_id)
    if since is not None and t.category is Category.PRE_EXISTING:
        parts.append(" — " + broken_since_text(since))
    line = "".join(parts)
    if (detailed or t.category is Category.ORDER_DEPENDENT) and t.outcome in FAILING:
        body = []
        head = message_head(t.message)
        if head:
            body.append(pre(head))
        body.append("Reproduce locally:")
        body.append(pre(v.reproduce(t.test_id)))
        line += "\n<details><summary>message and reproduction</summary>\n" + "\n".join(body)
        line += "\n</details>"
    return f"<li>{line}</li>"


def _section(
    v: Verdict,
    category: Category,
    title: str,
    what: str,
    opened: bool,
    broken_since: Mapping[str, BrokenSince] | None = None,
) -> list[str]:
    tests = v.classification.tests(category)
    if not tests:
        return []
    shown = tests[:MAX_LISTED]
    items = [_item(v, t, detailed=opened, broken_since=broken_since) for t in shown]
    if len(tests) > len(shown):
        items.append(
            f"<li>… and {len(tests) - len(shown)} more: <code>harness verdict {v.run.id}</code>"
            "</li>"
        )
    body = [f"<p>{esc(what)}</p>", "<ul>", *items, "</ul>"]
    if opened:
        return [f"#### {title} ({len(tests)})", "", *body, ""]
    return [
        f"<details><summary><b>{title} ({len(tests)})</b></summary>",
        *body,
        "</details>",
        "",
    ]


def render_markdown(v: Verdict, *, broken_since: Mapping[str, BrokenSince] | None = None) -> str:
    """``broken_since``: test id → the first bad commit a bisection of the cell found,
    said next to that test when it is a pre-existing failure."""
    run = v.run
    counts = v.counts()
    out = [marker(run.cell)]
    title = {
        Conclusion.FAILURE: v.headline(),
        Conclusion.NEUTRAL: "neutral",
        Conclusion.SUCCESS: "no new failures",
    }[v.conclusion]
    out.append(f"### {ICONS[v.conclusion]} {md(run.cell)}: {md(title)}")
    out.append("")
    ref = f", {code(run.ref)}" if run.ref else ""
    base = v.baseline
    if base.run is not None:
        against = (
            f"compared with run {base.run.id} at {code((base.run.sha or '?')[:12])} on the "
            f"default branch ({esc(base.note)})"
        )
    else:
        against = f"no baseline: {esc(base.note)}"
    out.append(f"<p>As of commit {code((run.sha or '?')[:12])} (run {run.id}{ref}), {against}.</p>")
    out.append("")
    if run.seeds:
        steps = ", ".join(f"{code(step)}: seed {seed}" for step, seed in sorted(run.seeds.items()))
        out += [f"<p>Tests ran in pytest-randomly's order ({steps}).</p>", ""]
    total = sum(counts.values()) - counts[Category.REMOVED] - counts[Category.INFRA_ERROR]
    out.append(
        f"<p><b>{esc(v.headline())}</b> — {total} tests here: "
        f"{counts[Category.PASSING]} passing, {counts[Category.SKIPPED]} skipped. "
        f"Conclusion: <b>{v.conclusion.value}</b>: {code(v.reason)}</p>"
    )
    out.append("")
    if v.drift:
        items = "".join(
            f"<li>{esc(c.key)}: {code(c.before or '(none)')} → {code(c.after or '(none)')}"
            + ("" if c.key in EXPLAINING_KEYS else " (does not explain failures)")
            + "</li>"
            for c in v.drift
        )
        out += [
            "<blockquote><b>Environment drift</b> since the baseline:",
            f"<ul>{items}</ul></blockquote>",
            "",
        ]
    for category, title_, what, opened in SECTIONS:
        out += _section(v, category, title_, what, opened, broken_since)
    out += _coverage(v)
    if v.expired_quarantine:
        items = "".join(
            f"<li>{', '.join(code(p) for p in r.tests)}: expired {r.expires} ({esc(r.source)})</li>"
            for r in v.expired_quarantine
        )
        out += [
            "<details><summary>Expired quarantine entries (no longer applied)</summary>",
            f"<ul>{items}</ul>",
            "</details>",
            "",
        ]
    return "\n".join(out).rstrip() + "\n"


def _coverage(v: Verdict) -> list[str]:
    cov = v.coverage
    rate = f" ({cov.pass_rate:.1%} of executed)" if cov.pass_rate is not None else ""
    line = (
        f"<p>Coverage: {cov.collected} collected, {cov.executed} executed, "
        f"{cov.passed} passed{rate}."
    )
    ref = cov.reference
    if ref is not None and ref.relative_pass_rate is not None:
        than = (
            f"run {ref.run_id} passed"
            if ref.backend == v.run.backend
            else f"{esc(ref.backend)} passes at this commit (run {ref.run_id})"
        )
        line += f" {esc(v.run.backend)} passes {ref.relative_pass_rate:.1%} of what {than}."
    out = [line + "</p>", ""]
    if ref is not None and ref.fail_only_here:
        shown = ref.fail_only_here[:MAX_LISTED]
        more = len(ref.fail_only_here) - len(shown)
        items = [f"<li>{code(t)}</li>" for t in shown]
        if more:
            items.append(f"<li>… and {more} more</li>")
        out += [
            f"<details><summary>Failing only on {esc(v.run.backend)} "
            f"({len(ref.fail_only_here)})</summary>",
            "<ul>",
            *items,
            "</ul>",
            "</details>",
            "",
        ]
    return out
