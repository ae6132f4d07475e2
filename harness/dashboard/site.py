"""``harness dashboard build``: the dashboard as a static site (``reports/site/`` by
default), publishable as is on GitHub Pages or any file server.

Pages: the overview, a grid per cell (every page of tests for its newest runs, and its
bisections), a page per run shown in a grid, a page per bisection linked from a cell or
run page, the pull-request heads, the op matrix and a badge per suite x
backend. Written to a temporary directory and swapped in at the end, so a half-built site
never replaces a good one. Only a directory that is missing, empty or a site built here
before (it holds :data:`MARKER`) is replaced: ``-o .`` or ``-o ~/work`` is refused, not
emptied.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.progress import Progress

from harness.dashboard import data
from harness.dashboard.pages import Pages
from harness.errors import ConfigError, HarnessError
from harness.matrix import CELL_PART

SHA = re.compile(r"[0-9a-f]{7,64}")
_PART = re.compile(CELL_PART)  # file names are made of cell parts, run ids and SHAs


def inside(root: Path, rel: str) -> Path:
    """``root / rel`` for a file name made of plain parts (no ``..``, no absolute path,
    nothing hidden), checked to be inside ``root``; anything else is a bug or an attack
    and stops the build before a byte is written."""
    parts = rel.split("/")
    path = root.joinpath(*parts)
    plain = all(_PART.fullmatch(p) and ".." not in p for p in parts)
    if not plain or not path.resolve().is_relative_to(root.resolve()):
        raise HarnessError(f"refusing to write {rel!r}: not a plain path inside the site")
    return path


@dataclass(frozen=True, slots=True)
class SiteStats:
    pages: int
    bytes: int


#: the file that marks a directory as a site built here (and so replaceable)
MARKER = ".harness-site"


def check_replaceable(out: Path) -> None:
    """Refuse (:class:`ConfigError`) to build into ``out`` unless replacing it loses
    nothing: missing, an empty directory, or a site built here before."""
    if not out.exists() and not out.is_symlink():
        return
    hint = "choose a new or empty directory (the site replaces OUT as a whole)"
    if out.is_symlink() or not out.is_dir():
        raise ConfigError(f"{out} exists and is not a directory: not replacing it", hint=hint)
    cwd = Path.cwd().resolve()
    if cwd == out.resolve() or cwd.is_relative_to(out.resolve()):
        raise ConfigError(f"{out} is the current directory or holds it", hint=hint)
    if any(out.iterdir()) and not (out / MARKER).is_file():
        raise ConfigError(
            f"{out} is not empty and is not a dashboard site built here (no {MARKER}): "
            "not replacing it",
            hint=hint,
        )


def build_site(pages: Pages, out: Path, *, progress: Progress | None = None) -> SiteStats:
    check_replaceable(out)
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".site-", dir=out.parent))
    written = 0
    size = 0

    def write(rel: str, text: str) -> None:
        nonlocal written, size
        path = inside(tmp, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        encoded = text.encode("utf-8")
        path.write_bytes(encoded)
        written += 1
        size += len(encoded)

    try:
        summaries = data.overview(pages.store, pages.expected)
        write("index.html", pages.overview())
        write("prs.html", pages.prs())
        write("ops.html", pages.ops())
        runs: set[int] = set()
        bisections: set[int] = set()
        task = progress.add_task("cells", total=len(summaries)) if progress else None
        for summary in summaries:
            g = data.grid(pages.store, summary.cell)
            for p in range(1, g.pages + 1):
                name = f"cells/{summary.slug}.html" if p == 1 else f"cells/{summary.slug}-p{p}.html"
                write(name, pages.grid(summary.slug, page=p))
            runs.update(r.id for r in g.runs)
            bisections |= data.bisection_ids(pages.store, summary.cell, g.runs)
            if progress and task is not None:
                progress.advance(task)
        for suite in sorted({s.suite for s in summaries if s.latest is not None}):
            g = data.upstream_grid(pages.store, suite)
            for p in range(1, g.pages + 1):
                name = f"upstreams/{suite}.html" if p == 1 else f"upstreams/{suite}-p{p}.html"
                write(name, pages.upstream(suite, page=p))
        for suite, backend in sorted({(s.suite, s.backend) for s in summaries}):
            write(f"badges/{suite}-{backend}.svg", pages.badge(suite, backend))
        task = progress.add_task("runs", total=len(runs)) if progress else None
        shas = set()
        for run_id in sorted(runs):
            write(f"runs/{run_id}.html", pages.run(run_id))
            if progress and task is not None:
                progress.advance(task)
        for bisection_id in sorted(bisections):
            write(f"bisections/{bisection_id}.html", pages.bisection(bisection_id))
        for sha, _ref, _n, _when in data.pr_heads(pages.store):
            shas.add(sha)
        for summary in summaries:
            if summary.latest is not None and summary.latest.sha:
                shas.add(summary.latest.sha)
        for sha in sorted(shas):
            if SHA.fullmatch(sha):  # a commit id; anything else (a hostile bundle's) is not
                write(f"prs/{sha}.html", pages.pr(sha))
        (tmp / MARKER).write_text("built by `harness dashboard build`; replaced by the next\n")
        if out.exists():
            check_replaceable(out)  # again: it may have changed while the site was built
            old = Path(tempfile.mkdtemp(prefix=".site-old-", dir=out.parent))
            out.rename(old / "site")
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SiteStats(written, size)
