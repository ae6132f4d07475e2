"""Culprit finding: which change (an upstream commit, a stack component) broke a test.

search.py          the search over any ordered candidates (pure; probes say
                   good/bad/skip/flaky)
commits.py         candidates from git (first-parent), commit subject/author/date/PR link
probe.py           one commit probed through the cell path, with repeats and reuse of runs
bisection.py       a whole commit bisection: ends checked, tests chosen, search, stored
stack.py           the search across the stack: changed components one at a time, then
                   the named one's versions (through search.py)
stack_bisection.py a whole stack bisection (`harness bisect CELL --stack`): runs
                   checked, ends probed with pins, search, stored
"""
