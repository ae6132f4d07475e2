"""What the dashboard knows besides the store: each suite's upstream repository and the
cells it should show: every cell of every suite file (so that every suite has a row, and
a cell without results is shown as missing rather than left out), and the cells the
service is configured to run."""

from __future__ import annotations

from pathlib import Path

from harness.config.loader import load_suites
from harness.config.service import default_config_path, load_service_config, suites_for
from harness.errors import ConfigError
from harness.matrix import matches_any
from harness.planner import all_cells, image_matrix


def dashboard_context(suites_dir: Path | None) -> tuple[dict[str, str], list[str]]:
    """(suite → upstream repository, expected cells); empty when there are no suites."""
    if suites_dir is None or not suites_dir.is_dir():
        return {}, []
    try:
        suites = load_suites(suites_dir)
    except ConfigError:
        return {}, []
    upstreams = {name: s.upstream.repo for name, s in suites.items()}
    cells = all_cells(suites, image_matrix())
    expected = [c.id for c in cells]
    path = default_config_path(suites_dir)
    if not path.is_file():
        return upstreams, sorted(set(expected))
    config = load_service_config(path)
    for repo, up in config.upstreams.items():
        if not up.cells:
            continue
        names = suites_for(suites, repo)
        expected += [c.id for c in cells if c.suite in names and matches_any(c.id, up.cells)]
    return upstreams, sorted(set(expected))
