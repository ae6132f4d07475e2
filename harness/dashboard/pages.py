"""The dashboard's pages, rendered with Jinja2 (autoescaping on: test names, messages and
branch names from upstreams are text, never markup).

Every page has one path, the same on the static site and on the server:
``index.html``, ``cells/<slug>.html`` (a grid; ``-p<N>`` for later pages of tests),
``upstreams/<suite>.html`` (tests x every cell of one upstream, newest run each),
``runs/<id>.html``, ``bisections/<id>.html`` (a bisection's answer and evidence),
``prs.html``, ``prs/<sha>.html``, ``ops.html``,
``badges/<suite>-<backend>.svg``. Links are relative, so the static export works from
any directory of a plain file server (or GitHub Pages).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from harness.dashboard import data, svg
from harness.errors import HarnessError
from harness.store import NotFound, RunRecord, Store
from harness.store.coverage import OpCoverage
from harness.verdict.categories import Category
from harness.verdict.gather import VerdictOptions, gather_verdict
from harness.verdict.render_markdown import SECTIONS

TEMPLATES = Path(__file__).with_name("templates")
LOG_TAIL_LINES = 200
LISTED = 200


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals |= {
        "pct": lambda v: "n/a" if v is None else f"{v:.0%}",
        # our own SVG; the only text in it (a label of percentages) is escaped
        "spark": lambda values: Markup(svg.sparkline(values)),
        "state": data.run_state,
        "label": data.run_label,
        "op_state": _op_state,
        "bad": sorted(data.BAD),
        "good": ["passed", "xfailed"],
    }
    return env


#: the pages' inline blocks (templates included in them), allowed by their hashes in the
#: Content-Security-Policy: nothing else inline runs or applies
INLINE_STYLES = ("_style.css",)
INLINE_SCRIPTS = ("_grid_filter.js",)


def _source_hash(text: str) -> str:
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def content_security_policy(env: Environment, *, meta: bool = False) -> str:
    """The pages' policy: nothing from elsewhere, only our own inline style and script
    (by hash), images from the site, forms to the site. ``meta``: for a ``<meta>`` tag
    (the static export), where ``frame-ancestors`` is not allowed."""
    styles = " ".join(_source_hash(env.get_template(n).render()) for n in INLINE_STYLES)
    scripts = " ".join(_source_hash(env.get_template(n).render()) for n in INLINE_SCRIPTS)
    policy = [
        "default-src 'none'",
        f"style-src {styles}",
        f"script-src {scripts}",
        "img-src 'self' data:",
        "form-action 'self'",
        "base-uri 'none'",
    ]
    if not meta:
        policy.append("frame-ancestors 'none'")
    return "; ".join(policy)


def _op_state(o: OpCoverage | None) -> str:
    if o is None:
        return "missing"
    states = {"failing": "fail", "passing": "pass", "supported": "pass", "partial": "infra"}
    return states.get(o.status, "missing")


def age(when: datetime, now: datetime | None = None) -> str:
    seconds = max(0, int(((now or datetime.now(UTC)) - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


class Pages:
    """Renders pages from ``store``; ``served``: pages come from ``harness serve`` (forms
    go to the server) rather than a static export."""

    def __init__(
        self,
        store: Store,
        *,
        served: bool = False,
        suites_dir: Path | None = None,
        expected_cells: list[str] | None = None,
        upstreams: dict[str, str] | None = None,
    ) -> None:
        self.store = store
        self.served = served
        self.suites_dir = suites_dir
        self.expected = expected_cells or []
        self.upstreams = upstreams or {}
        self.env = _env()
        self.generated = datetime.now(UTC)
        #: the Content-Security-Policy the pages are written for (a header when served)
        self.csp = content_security_policy(self.env)
        self._csp_meta = content_security_policy(self.env, meta=True)

    def _render(self, template: str, root: str, title: str, **values: Any) -> str:
        stamp = f"as of {self.generated.strftime('%Y-%m-%d %H:%M')} UTC"
        return self.env.get_template(template).render(
            root=root,
            title=title,
            served=self.served,
            generated="served live, current at every load" if self.served else stamp,
            csp_meta=self._csp_meta,
            age=age,
            **values,
        )

    # pages ---------------------------------------------------------------------------

    def overview(self) -> str:
        cells = data.overview(self.store, self.expected)
        backends = sorted({c.backend for c in cells}, key=lambda b: (b == "cpu", b))
        rows: dict[str, dict[str, list[data.CellSummary]]] = {}
        for c in cells:
            rows.setdefault(c.suite, {}).setdefault(c.backend, []).append(c)
        return self._render(
            "overview.html.j2",
            "",
            "Compatibility overview",
            rows=sorted(rows.items()),
            backends=backends,
            upstreams=self.upstreams,
            stale=sum(c.stale for c in cells),
            stale_days=data.STALE_AFTER.days,
        )

    def grid(
        self,
        slug: str,
        *,
        query: str = "",
        status: str = "",
        page: int = 1,
        before_id: int | None = None,
    ) -> str:
        cell = slug.replace("__", "/")
        g = data.grid(self.store, cell, query=query, status=status, page=page, before_id=before_id)

        older = f"{slug}.html?before={g.older}" if g.older and self.served else None
        return self._render(
            "grid.html.j2",
            "../",
            f"{cell}: test history",
            g=g,
            self_name=f"{slug}.html",
            page_link=self._pager(slug, query, status),
            older_link=older,
            by_cell=False,
            bisections=data.cell_bisections(self.store, cell) if page == 1 else [],
        )

    def upstream(self, suite: str, *, query: str = "", status: str = "", page: int = 1) -> str:
        g = data.upstream_grid(self.store, suite, query=query, status=status, page=page)

        return self._render(
            "grid.html.j2",
            "../",
            f"{suite}: every test on every cell",
            g=g,
            self_name=f"{suite}.html",
            page_link=self._pager(suite, query, status),
            older_link=None,
            by_cell=True,
            bisections=[],
        )

    def _pager(self, stem: str, query: str, status: str) -> Callable[[int], str]:
        """Links to a grid's pages (``stem.html``, ``stem-pN.html``), keeping a served
        page's filter."""

        def link(p: int) -> str:
            name = f"{stem}.html" if p == 1 else f"{stem}-p{p}.html"
            if self.served and (query or status):
                return f"{name}?q={_q(query)}&status={_q(status)}"
            return name

        return link

    def run(self, run_id: int) -> str:
        r = self.store.get_run(run_id)
        verdict = None
        if r.status != "running":
            try:
                verdict = gather_verdict(
                    self.store, run_id, VerdictOptions(suites_dir=self.suites_dir)
                )
            except HarnessError:
                verdict = None
        sections = []
        if verdict is not None:
            for category, title, _what, opened in SECTIONS:
                tests = verdict.classification.tests(category)
                if tests:
                    items = [
                        (t.test_id, t.message if category in _WITH_MESSAGE else None)
                        for t in tests[:LISTED]
                    ]
                    sections.append((_plain(title), items, opened))
        environment = []
        if r.environment_id is not None:
            env = self.store.get_environment(r.environment_id)
            environment = [(k, _short(v)) for k, v in sorted(_flatten(env).items())]
        return self._render(
            "run.html.j2",
            "../",
            f"Run {r.id}: {r.cell}",
            run=r,
            slug=r.cell.replace("/", "__"),
            v=verdict,
            sections=sections,
            environment=environment,
            logs=_log_tails(r),
            bisections=data.run_bisections(self.store, r),
        )

    def bisection(self, bisection_id: int) -> str:
        """A bisection: its answer, confidence, the tests it followed and every probe
        (commit or pins, verdict, outcomes per attempt, runs). Raises NotFound."""
        answer = data.bisection(self.store, bisection_id)
        if answer is None:
            raise NotFound(f"no bisection with id {bisection_id}")
        return self._render(
            "bisection.html.j2",
            "../",
            f"Bisection {answer.id}: {answer.cell}",
            b=answer,
            slug=answer.cell.replace("/", "__"),
        )

    def prs(self) -> str:
        return self._render("prs.html.j2", "", "Pull requests", heads=data.pr_heads(self.store))

    def pr(self, sha: str) -> str:
        view = data.runs_at(self.store, sha)
        return self._render("pr.html.j2", "../", f"Commit {sha[:12]}", view=view)

    def ops(self) -> str:
        m = data.op_matrix(self.store)
        ops = sorted(
            m.cells.items(), key=lambda kv: (not any(o.failed for o in kv[1].values()), kv[0])
        )
        return self._render("ops.html.j2", "", "Op coverage", m=m, ops=ops)

    def participation(self, upstreams: list[dict[str, Any]]) -> str:
        """Each upstream's level, why, its SLOs and the history of its levels
        (:func:`harness.service.participation.view`)."""
        return self._render(
            "participation.html.j2", "", "Participation and SLOs", upstreams=upstreams
        )

    def badge(self, suite: str, backend: str) -> str:
        run = data.latest_for(self.store, suite, backend)
        if run is None:
            return svg.badge(f"{suite} on {backend}", "no result", "missing")
        rate = data.pass_rate(run)
        message = run.status if rate is None else f"{rate:.0%} passing"
        if data.all_explained(run):
            message += f", {run.explained} known"
        return svg.badge(f"{suite} on {backend}", message, data.run_state(run))


_WITH_MESSAGE = {
    Category.NEW_FAILURE,
    Category.NEW_TEST_FAILING,
    Category.NEW_FAILURE_DRIFT,
    Category.FLAKY,
    Category.ORDER_DEPENDENT,
    Category.PRE_EXISTING,
    Category.QUARANTINED,
}


def _plain(title: str) -> str:
    """``"❌ NEW FAILURES"`` → ``"New failures"``."""
    return re.sub(r"^[^A-Za-z]+", "", title).capitalize()


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out |= _flatten(v, f"{prefix}{k}.")
        return out
    return {prefix.rstrip("."): value}


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _log_tails(run: RunRecord) -> list[tuple[str, str]]:
    if not run.log_dir:
        return []
    directory = Path(run.log_dir)
    if not directory.is_dir():
        return []
    out = []
    for path in sorted(directory.glob("*.log"))[:20]:
        try:
            with path.open("rb") as fh:
                fh.seek(0, 2)
                size = fh.tell()
                fh.seek(max(0, size - 64 * 1024))
                lines = fh.read().decode("utf-8", "replace").splitlines()[-LOG_TAIL_LINES:]
        except OSError:
            continue
        out.append((path.name, "\n".join(lines)))
    return out
