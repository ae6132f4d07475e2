"""llama.cpp ``test-backend-ops`` output: per-op results and the op support matrix.

``test-backend-ops [test|grad|perf|support] [-b DEVICE] [--output console|csv|sql]``
checks every ggml operation, with many parameter sets, on a backend device against the
CPU reference. Three output forms are read:

* ``console`` (format ``test-backend-ops``): ``  OP(params): <status>`` lines under
  ``Backend i/N: DEVICE`` headers, with ANSI colour codes (stripped here). Status is
  ``OK``, ``FAIL`` (possibly preceded by ``[OP] MAA = x > y``, ``compare failed`` or
  ``[OP] nonfinite gradient …``), ``not supported [DEVICE, …]``, ``skipping large tensors
  for speed``, and in support mode ``SUPPORTED`` / ``NOT SUPPORTED``. A complete run ends
  with ``N/M backends passed``; without it the file was cut short (crash, timeout).
* ``csv`` (format ``test-backend-ops-csv``): quoted fields ``op_name, op_params,
  supported, error_message, test_mode, backend_reg_name, backend_name``; in test mode a
  row passed when it is supported and has no error message.
* ``sql`` (format ``test-backend-ops-sql``): ``INSERT INTO test_backend_ops (...) VALUES
  ('…', …);`` lines with every field, ``passed`` included.

As test results (the :data:`~harness.results.FORMATS` parsers) only test- and grad-mode
rows count: the ``test_id`` is ``OP(params)`` (``CANN1:OP(params)`` for the second and
later devices of a run, which test the same ops in files of their own; a name printed
again in the same file gets `` #2``, `` #3``, ..., see :func:`make_parser`), not
supported and skipped-for-size rows are ``skipped``. Every row, support mode included, is also an
:class:`OpRecord` for the op coverage matrix (:func:`iter_op_records`).
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple, TextIO

from harness.results.model import Outcome, ParseReport, TestResult, truncate_message

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: the cursor moves a console line may carry once colours are gone (carriage return,
#: backspace): dropped, so a status overwritten in place still reads; other control
#: characters stay (test ids escape them)
_CONTROL = re.compile(r"[\r\x08]")
#: a line longer than this is read as its head and tail (memory stays bounded)
MAX_LINE_CHARS = 1 << 20
_NO_STATUS = "no status printed for this op (its output interleaved with other lines?)"
_LINE = re.compile(r"^  (?P<op>[A-Z][A-Z0-9_]*)\((?P<params>.*)\): (?P<status>.*)$")
_BACKEND = re.compile(r"^Backend \d+/\d+: (?P<name>\S+)")
_FOOTER = re.compile(r"^\d+/\d+ backends passed")
_PERF = re.compile(r"\d+ runs - ")
_SQL_VALUES = re.compile(r"'((?:[^']|'')*)'")

#: Formats whose rows also feed the op coverage matrix.
OP_FORMATS = ("test-backend-ops", "test-backend-ops-csv", "test-backend-ops-sql")


class OpRecord(NamedTuple):
    """One op with one parameter set on one backend device, in one mode."""

    backend: str  # device name: CANN0, CPU, CUDA0 (console: from the section header)
    op: str
    params: str
    mode: str  # test, grad, perf, support
    supported: bool
    passed: bool | None  # None where the mode does not test (support, perf)
    message: str | None


def bounded_lines(f: TextIO, limit: int = MAX_LINE_CHARS) -> Iterator[str]:
    """The lines of ``f``; one longer than ``limit`` comes as its first and last halves
    joined by ``[…]``, read without holding it whole."""
    half = limit // 2
    while line := f.readline(limit):
        if len(line) < limit or line.endswith("\n"):
            yield line
            continue
        tail = ""
        while more := f.readline(limit):
            tail = (tail + more)[-half:]
            if more.endswith("\n"):
                break
        yield line[:half] + "[…]" + tail


def parse_console_line(line: str, backend: str) -> OpRecord | None:
    """One console line as an :class:`OpRecord`, or None when it is not an op line."""
    m = _LINE.match(ANSI.sub("", line.rstrip("\n")))
    if m is None:
        return None
    op, params, status = m.group("op"), m.group("params"), m.group("status").strip()
    if status == "SUPPORTED":
        return OpRecord(backend, op, params, "support", True, None, None)
    if status == "NOT SUPPORTED":
        return OpRecord(backend, op, params, "support", False, None, None)
    if status.startswith("not supported"):
        devices = status.removeprefix("not supported").strip().strip("[]") or backend
        return OpRecord(backend, op, params, "test", False, None, f"not supported [{devices}]")
    if status.startswith("skipping large tensors"):
        return OpRecord(backend, op, params, "test", True, None, "skipped: large tensors")
    if _PERF.search(status):
        return OpRecord(backend, op, params, "perf", True, None, status)
    if status.endswith("OK"):
        return OpRecord(backend, op, params, "test", True, True, None)
    if status.endswith("FAIL"):
        detail = status.removesuffix("FAIL").strip()
        return OpRecord(backend, op, params, "test", True, False, detail or "FAIL")
    return None  # an op line whose status did not print (the run died here)


def iter_console(path: Path, report: ParseReport) -> Iterator[OpRecord]:
    backend = "?"
    complete = False
    last_op_line: str | None = None
    pending: tuple[str, str] | None = None  # an op whose status has not printed yet
    with path.open(encoding="utf-8", errors="replace", newline="\n") as f:
        for raw in bounded_lines(f):
            line = _CONTROL.sub("", ANSI.sub("", raw.rstrip("\n")))
            header, footer = _BACKEND.match(line), _FOOTER.match(line)
            rec = None if header or footer else parse_console_line(line, backend)
            if pending is not None and (header or footer or rec or _LINE.match(line)):
                op, params = pending  # the next op or section began: it never said
                yield OpRecord(backend, op, params, "test", True, False, _NO_STATUS)
                pending = last_op_line = None
            if header is not None:
                backend = header.group("name")
            elif footer is not None:
                complete = True
            elif rec is not None:
                yield rec
            elif (m := _LINE.match(line)) is not None:
                pending, last_op_line = (m.group("op"), m.group("params")), line.strip()
            elif pending is not None:  # a line of its own between an op and its status
                op, params = pending
                rec = parse_console_line(f"  {op}({params}): {line.strip()}", backend)
                if rec is not None:
                    yield rec
                    pending = last_op_line = None
    if not complete:
        report.crashed = True
        where = f" after '{last_op_line[:200]}'" if last_op_line else ""
        report.crash_reason = (
            f"{path.name}: no 'backends passed' summary: test-backend-ops stopped early{where}"
        )


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "yes", "true"}


def iter_csv(path: Path, report: ParseReport) -> Iterator[OpRecord]:
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        text_ok = True
        reader = csv.DictReader(bounded_lines(f))
        for row in reader:
            if None in row or any(v is None for v in row.values()):
                text_ok = False  # a row cut short
                break
            mode = row.get("test_mode", "test")
            supported = _flag(row.get("supported", "0"))
            message = (row.get("error_message") or "").strip() or None
            passed: bool | None = None
            if mode in {"test", "grad"}:
                passed = supported and message is None
            yield OpRecord(
                row.get("backend_name") or "?",
                row.get("op_name", "?"),
                row.get("op_params", ""),
                mode,
                supported,
                passed,
                None if mode == "support" else message,
            )
    if not text_ok:
        report.crashed = True
        report.crash_reason = f"{path.name}: the last CSV row is incomplete"


def iter_sql(path: Path, report: ParseReport) -> Iterator[OpRecord]:
    fields: list[str] | None = None
    with path.open(encoding="utf-8", errors="replace") as f:
        for n, raw in enumerate(bounded_lines(f), 1):
            line = raw.strip()
            if not line.startswith("INSERT INTO test_backend_ops"):
                continue
            if not line.endswith(");"):
                report.crashed = True
                report.crash_reason = f"{path.name}: the last INSERT is incomplete"
                return
            head, sep, tail = line.partition(") VALUES (")
            if fields is None:
                if not sep or "(" not in head:
                    report.crashed = True
                    report.crash_reason = (
                        f"{path.name}: an INSERT without a column list: {line[:120]}"
                    )
                    return
                fields = [c.strip() for c in head.split("(", 1)[1].split(",")]
            values = [v.replace("''", "'") for v in _SQL_VALUES.findall(tail)]
            if len(values) != len(fields):  # a quote out of place: the values shifted
                if not report.crashed:
                    report.crashed = True
                    report.crash_reason = (
                        f"{path.name}:{n}: an INSERT with {len(values)} values for "
                        f"{len(fields)} columns (skipped)"
                    )
                continue
            row = dict(zip(fields, values, strict=True))
            mode = row.get("test_mode", "test")
            message = (row.get("error_message") or "").strip() or None
            yield OpRecord(
                row.get("backend_name", "?"),
                row.get("op_name", "?"),
                row.get("op_params", ""),
                mode,
                _flag(row.get("supported", "0")),
                _flag(row.get("passed", "0")) if mode in {"test", "grad"} else None,
                None if mode == "support" else message,
            )


_READERS = {
    "test-backend-ops": iter_console,
    "test-backend-ops-csv": iter_csv,
    "test-backend-ops-sql": iter_sql,
}


def iter_op_records(path: Path, fmt: str, report: ParseReport | None = None) -> Iterator[OpRecord]:
    """Every op row of ``path`` (all modes), for the op coverage matrix."""
    return _READERS[fmt](path, report or ParseReport(path=str(path), format=fmt))


#: a device after the first of its kind; device 0 (and CPU) keep plain ids, so a
#: one-device run compares with the cpu run and with other one-device runs
_EXTRA_DEVICE = re.compile(r"^[A-Za-z_]+[1-9]\d*$")


def _as_test_result(rec: OpRecord) -> TestResult | None:
    if rec.mode not in {"test", "grad"}:
        return None
    test_id = f"{rec.op}({rec.params})"
    if _EXTRA_DEVICE.match(rec.backend):  # CANN1, CUDA2: one file per device in a run
        test_id = f"{rec.backend}:{test_id}"
    if rec.mode == "grad":
        test_id = f"grad:{test_id}"
    if rec.passed is True:
        return TestResult(test_id, Outcome.PASSED)
    if rec.passed is False:
        return TestResult(test_id, Outcome.FAILED, 0.0, truncate_message(rec.message))
    return TestResult(test_id, Outcome.SKIPPED, 0.0, rec.message)


def occurrence_id(test_id: str, occurrence: int) -> str:
    """The id of the ``occurrence``-th case (1-based) printed under ``test_id``: the first
    keeps the plain id, later ones get `` #2``, `` #3``, ..."""
    return test_id if occurrence == 1 else f"{test_id} #{occurrence}"


def make_parser(fmt: str) -> Callable[[Path, ParseReport], Iterator[TestResult]]:
    """The test-result parser for ``fmt`` (one of :data:`OP_FORMATS`).

    Some test cases print the same ``OP(params)`` as another (their parameters differ in
    a field the op's params string leaves out: 219 of the 20766 cases of the CPU backend
    in llama-cpp-python 0.3.36's tree). Each keeps a result of its own: a name's later
    occurrences in a file get `` #2``, `` #3``, ... (:func:`occurrence_id`), stable for
    the same output, so a run's totals and its distinct test ids agree.
    """
    reader = _READERS[fmt]

    def parse(path: Path, report: ParseReport) -> Iterator[TestResult]:
        #: occurrences so far per id, keyed by a digest (memory per case stays small)
        seen: dict[bytes, int] = {}
        for rec in reader(path, report):
            result = _as_test_result(rec)
            if result is None:
                continue
            key = hashlib.blake2b(result.test_id.encode(), digest_size=16).digest()
            seen[key] = n = seen.get(key, 0) + 1
            if n > 1:
                result = result._replace(test_id=occurrence_id(result.test_id, n))
            yield result

    parse.__name__ = f"parse_{fmt.replace('-', '_')}"
    return parse
