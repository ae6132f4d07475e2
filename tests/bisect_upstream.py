"""Fixture upstreams for bisection: real git histories whose tests break at known commits.

``make_linear``: 32 commits on main (index 0..31, subjects ``change N (#100+N)``); at
index 19 ``app.py`` changes and ``test_regress`` fails from there on. ``test_flaky``
fails 30% of the time, deterministically per (seed, commit index, attempt): the attempt
is counted in a file per commit index under ``$FLAKY_STATE`` (set by the suite file), so
every execution of the test at one commit is a new attempt.

``make_merge``: the break comes in through a merged branch; ``make_skip``: the breaking
commit cannot be built (its requirements name a package the wheel folder lacks).
"""

from __future__ import annotations

import hashlib
import textwrap
from dataclasses import dataclass
from pathlib import Path

from tests.gitrepos import UpstreamRepo

FLAKY_RATE = 30

TEST_APP = """\
import hashlib
import os
from pathlib import Path

import app

HERE = Path(__file__).resolve().parents[1]


def test_stable():
    assert app.NAME == "demo"


def test_regress():
    assert app.VALUE == 1, "VALUE changed"


def test_flaky():
    index = (HERE / "index.txt").read_text().strip()
    state = Path(os.environ["FLAKY_STATE"])
    state.mkdir(parents=True, exist_ok=True)
    counter = state / index
    attempt = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(attempt + 1))
    seed = (HERE / "seed.txt").read_text().strip()
    digest = hashlib.sha256(f"{seed}:{index}:{attempt}".encode()).hexdigest()
    assert int(digest, 16) % 100 >= FLAKY_RATE, f"flaked (attempt {attempt})"
""".replace("FLAKY_RATE", str(FLAKY_RATE))

PYTEST_INI = "[pytest]\naddopts = -p no:cacheprovider\npythonpath = .\n"


def flaky_fails(seed: int, index: int, attempt: int) -> bool:
    """Whether ``test_flaky`` fails at commit ``index`` on ``attempt`` (0 first)."""
    digest = hashlib.sha256(f"{seed}:{index}:{attempt}".encode()).hexdigest()
    return int(digest, 16) % 100 < FLAKY_RATE


def pick_seed(good: int, bad: int) -> int:
    """A seed where test_flaky passes at ``good`` and at ``bad`` fails once then passes:
    a plain run of each end makes it look like a new failure."""
    return next(
        s
        for s in range(10_000)
        if not flaky_fails(s, good, 0) and flaky_fails(s, bad, 0) and not flaky_fails(s, bad, 1)
    )


def _app(value: int) -> str:
    return f'NAME = "demo"\nVALUE = {value}\n'


@dataclass
class Fixture:
    repo: UpstreamRepo
    #: index → SHA
    shas: list[str]
    seed: int = 0


def make_linear(root: Path, *, n: int = 32, breaks_at: int = 19) -> Fixture:
    repo = UpstreamRepo(root, name="bisectme")
    seed = pick_seed(0, n - 1)
    shas = []
    for i in range(n):
        files: dict[str, str | None] = {"index.txt": f"{i}\n", f"notes/{i}.txt": f"change {i}\n"}
        if i == 0:
            files |= {
                "requirements.txt": "pytest\n",
                "pytest.ini": PYTEST_INI,
                "seed.txt": f"{seed}\n",
                "tests/test_app.py": TEST_APP,
                "app.py": _app(1),
            }
        if i == breaks_at:
            files["app.py"] = _app(2)
        shas.append(repo.commit(files, message=f"change {i} (#{100 + i})"))
    return Fixture(repo, shas, seed)


def make_merge(root: Path) -> Fixture:
    """main: c0 (good), c1; branch feature from c1: f1, f2 (breaks), f3; main: c2; then
    M = "Merge pull request #7 from someone/feature" (bad). Candidates (first parent):
    c1, c2, M; the culprit is M."""
    repo = UpstreamRepo(root, name="mergeme")
    c0 = repo.commit(
        {
            "requirements.txt": "pytest\n",
            "pytest.ini": PYTEST_INI,
            "seed.txt": "0\n",
            "index.txt": "0\n",
            "tests/test_app.py": TEST_APP,
            "app.py": _app(1),
        },
        message="initial",
    )
    c1 = repo.commit({"notes/1.txt": "one\n"}, message="docs (#1)")
    repo.branch("feature")
    repo.commit({"notes/f1.txt": "f1\n"}, message="feature part 1", branch="feature")
    repo.commit({"app.py": _app(2)}, message="feature part 2", branch="feature")
    repo.commit({"notes/f3.txt": "f3\n"}, message="feature part 3", branch="feature")
    c2 = repo.commit({"notes/2.txt": "two\n"}, message="more docs (#2)")
    m = repo.merge("feature", message="Merge pull request #7 from someone/feature")
    return Fixture(repo, [c0, c1, c2, m])


def make_skip(root: Path) -> Fixture:
    """c0 good; c1; c2 breaks the test and cannot be built; c3 builds again (still
    broken); c4 (bad). The first bad is one of c2, c3."""
    repo = UpstreamRepo(root, name="skipme")
    shas = [
        repo.commit(
            {
                "requirements.txt": "pytest\n",
                "pytest.ini": PYTEST_INI,
                "seed.txt": "0\n",
                "index.txt": "0\n",
                "tests/test_app.py": TEST_APP,
                "app.py": _app(1),
            },
            message="initial",
        ),
        repo.commit({"notes/1.txt": "1\n"}, message="c1"),
        repo.commit(
            {"app.py": _app(2), "requirements.txt": "pytest\nno-such-package-anywhere\n"},
            message="c2 breaks the build (#12)",
        ),
        repo.commit({"requirements.txt": "pytest\n"}, message="c3 fixes the build (#13)"),
        repo.commit({"notes/4.txt": "4\n"}, message="c4"),
    ]
    return Fixture(repo, shas)


def suite_yaml(name: str, url: str, *, wheels: Path, flaky_state: Path) -> str:
    return textwrap.dedent(
        f"""\
        name: {name}
        description: fixture upstream for harness bisect
        upstream:
          repo: example/{name}
          url: {url}
          default_branch: main
        dependency_files: [requirements.txt]
        env:
          PIP_NO_INDEX: "1"
          PIP_FIND_LINKS: {wheels}
          FLAKY_STATE: {flaky_state}
        env_pinned: [PIP_NO_INDEX, PIP_FIND_LINKS]
        default_args: tests
        backends:
          cpu:
            setup:
              - name: deps
                run: "{{pip}} install -q -r requirements.txt"
                timeout: 5m
            test:
              - name: unit
                run: python -m pytest -q --junitxml={{results_dir}}/unit.xml {{args}}
                timeout: 2m
                results:
                  - path: unit.xml
                    format: junit
        """
    )
