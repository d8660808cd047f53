"""Records: one JSON line per (case, adapter), appended and flushed as they are produced.

Nothing is lost: a record is on disk before the next case starts, summaries are written to a temp
file and renamed into place, and a partial ``results.jsonl`` (a killed run) stays readable.

Nothing is made up either: reading back checks every line (``check_record``), so a damaged or edited
file is one line naming the file and line (``RecordsError``), never a traceback or a silently dropped
record. The one tolerated defect is a torn last line, which is what a killed writer leaves.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .compare import ERROR_KINDS
from .dtypes import NAMES as DTYPES
from .errors import UsageError

RESULTS = "results.jsonl"
META = "run.json"
TIMING_FIELDS = ("seconds",)  # the only fields allowed to differ between two runs with the same seed


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return repr(x)
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(_clean(record), sort_keys=True, allow_nan=False)


def _drop_torn_tail(path: Path) -> None:
    """A killed writer can leave half a line: cut the file back to its last complete record."""
    if not path.exists():
        return
    with open(path, "rb+") as fh:
        data = fh.read()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            fh.truncate(keep)


class RecordWriter:
    """Append-only results.jsonl; each record is flushed and fsynced before ``write`` returns."""

    def __init__(self, out_dir: Path, append: bool = False) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.path = out_dir / RESULTS
        if append:
            _drop_torn_tail(self.path)
        self._fh: IO[str] = open(self.path, "a" if append else "w", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self.write_many([record])

    def write_many(self, records: list[dict[str, Any]]) -> None:
        """Several records, on disk (one fsync) before this returns."""
        if not records:
            return
        self._fh.write("".join(dumps(r) + "\n" for r in records))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Held:
    depth = 0
    pending = False


@contextmanager
def uninterrupted() -> Iterator[None]:
    """Ctrl-C / SIGTERM held back while records go to disk and into the gate's own list together.

    Why: the gate checks at the end that results.jsonl holds exactly the records it wrote. An interrupt
    landing after a batch reached the disk but before the gate had counted it made that check fail -- the
    finished record dropped and the run blamed on tampering. The gate's signal handler calls
    :func:`hold_interrupt`; a held interrupt is raised here, once the block is done."""
    _Held.depth += 1
    try:
        yield
    finally:
        _Held.depth -= 1
    if _Held.depth == 0 and _Held.pending:
        _Held.pending = False
        raise KeyboardInterrupt


def hold_interrupt() -> bool:
    """For a signal handler: True when an :func:`uninterrupted` block is running (it raises on leaving)."""
    if _Held.depth:
        _Held.pending = True
        return True
    return False


class RecordsError(UsageError):
    """A results.jsonl or run.json that cannot be read back; one line naming the file (and line)."""


VERDICTS = ("PASS", "FAIL", "ERROR", "UNSUPPORTED", "XFAIL", "XPASS")
NONFINITE = ("inf", "-inf", "nan")  # how _clean writes a non-finite float
REQUIRED: dict[str, str] = {"case_id": "str", "adapter": "str", "clauses": "strs", "dtype": "str", "verdict": "str",
                            "message": "str"}
OPTIONAL: dict[str, str] = {
    "family": "str", "kind": "str", "title": "str", "raised": "str?", "error_kind": "str?", "raw_verdict": "str",
    "max_abs_err": "num?", "max_rel_err": "num?", "bound": "num?", "ratio": "num?", "max_ulp": "int?",
    "first_failing_step": "int?", "seq": "int", "seconds": "num", "worst": "dict?", "emulated": "strs",
    "deviates": "strs", "explained_by": "strs?", "baseline": "str", "baseline_reason": "str", "case_file": "str",
    "replay": "str",
}
_TYPE_WORDS = {"str": "a string", "strs": "a list of strings", "num": "a number", "int": "an integer",
               "dict": "an object", "bool": "true or false"}


def _is(kind: str, v: Any) -> bool:
    if kind.endswith("?"):
        return v is None or _is(kind[:-1], v)
    if kind == "str":
        return isinstance(v, str)
    if kind == "strs":
        return isinstance(v, list) and all(isinstance(x, str) for x in v)
    if kind == "int":
        return isinstance(v, int) and not isinstance(v, bool)
    if kind == "bool":
        return isinstance(v, bool)
    if kind == "num":
        return (isinstance(v, (int, float)) and not isinstance(v, bool)) or v in NONFINITE
    return isinstance(v, dict)


def _short(v: Any) -> str:
    text = json.dumps(v, ensure_ascii=True, default=repr)
    return text if len(text) <= 60 else text[:60] + "..."


def _check_fields(obj: dict[str, Any], fields: dict[str, str], where: str) -> None:
    for key, kind in fields.items():
        if key in obj and not _is(kind, obj[key]):
            raise ValueError(f"{where}{key!r} must be {_TYPE_WORDS[kind.rstrip('?')]}"
                             f"{' or null' if kind.endswith('?') else ''}, got {_short(obj[key])}")


def check_record(obj: Any) -> dict[str, Any]:
    """``obj`` if it is a record this suite can have written; else ValueError saying what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError(f"a record must be a JSON object, got {_short(obj)}")
    for key in REQUIRED:
        if key not in obj:
            raise ValueError(f"record lacks {key!r}")
    _check_fields(obj, {**REQUIRED, **OPTIONAL}, "")
    if obj["dtype"] not in DTYPES:
        raise ValueError(f"unknown dtype {_short(obj['dtype'])}; expected one of {', '.join(DTYPES)}")
    if obj["verdict"] not in VERDICTS:
        raise ValueError(f"unknown verdict {_short(obj['verdict'])}; expected one of {', '.join(VERDICTS)}")
    if obj.get("error_kind") is not None and obj["error_kind"] not in ERROR_KINDS:
        raise ValueError(f"unknown error_kind {_short(obj['error_kind'])}; expected one of {', '.join(ERROR_KINDS)}")
    if "raw_verdict" in obj and obj["raw_verdict"] not in ("FAIL", "ERROR"):
        raise ValueError(f"raw_verdict must be FAIL or ERROR, got {_short(obj['raw_verdict'])}")
    if obj["verdict"] in ("PASS", "XPASS"):  # a pass is within the bound: a line saying otherwise was edited
        ratio = obj.get("ratio")
        ratio = float(ratio) if isinstance(ratio, str) else ratio
        if ratio is not None and not ratio <= 1:
            raise ValueError(f"a {obj['verdict']} record with ratio {_short(obj.get('ratio'))} (an error beyond its "
                             "bound) is not a record this suite writes")
        if "raw_verdict" in obj:
            raise ValueError(f"a {obj['verdict']} record with a raw_verdict is not a record this suite writes")
    cf = obj.get("case_file")
    if cf is not None and (cf.startswith("/") or "\\" in cf or ".." in Path(cf).parts):
        raise ValueError(f"case_file must be a path inside the run directory, got {_short(cf)}")
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (this suite writes non-finite numbers as strings)")


def parse_line(raw: bytes) -> dict[str, Any]:
    """One results.jsonl line -> a checked record; ValueError (no location) for anything else."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1})") from None
    try:
        obj = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise ValueError(f"not a JSON record ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise ValueError("not a JSON record (nested too deeply)") from None
    return check_record(obj)


def _regular(path: Path) -> None:
    """A FIFO or device under a run file's name would block a read (or write) forever: refuse it."""
    if os.path.exists(path) and not os.path.isfile(path):
        raise RecordsError(f"{path}: not a regular file")


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every record of a results.jsonl, each checked (``check_record``). A last line without its newline
    is a torn write (a killed writer) and is skipped, as ``RecordWriter(append=True)`` cuts it off; any
    other line that is not a record raises RecordsError naming the file and line."""
    return (r for _, r in numbered_records(path))


def unique_records(path: Path) -> list[dict[str, Any]]:
    """``read_records`` of a run's own results file, where a run writes one record per (case, adapter): a
    second record of one is an edit (or two files joined) and would be counted twice, so it is a
    RecordsError naming the file, the line and the first one."""
    return [r for _, r in numbered_unique(path)]


def numbered_unique(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """``unique_records`` with each record's line number."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for n, r in numbered_records(path):
        key = (r["case_id"], r["adapter"])
        if key in seen:
            raise RecordsError(f"{path}:{n}: case {key[0]} on {key[1]} recorded twice (first on line {seen[key]}); a "
                               "run records each case once per adapter")
        seen[key] = n
        out.append((n, r))
    return out


def numbered_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``read_records`` with each record's line number."""
    _regular(path)
    try:
        fh = open(path, "rb")
    except OSError as e:
        raise RecordsError(f"{path}: cannot read ({e.strerror or e})") from None
    with fh:
        for n, raw in enumerate(fh, 1):
            if not raw.endswith(b"\n"):
                return  # torn last line
            if not raw.strip():
                continue
            try:
                rec = parse_line(raw)
            except ValueError as e:
                raise RecordsError(f"{path}:{n}: {e}") from None
            yield n, rec


def read_meta(path: Path) -> dict[str, Any]:
    """run.json as a dict; RecordsError (one line) when it is unreadable, not UTF-8, not JSON or not an object."""
    _regular(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise RecordsError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        obj = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as e:
        raise RecordsError(f"{path}: not UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})") from None
    except json.JSONDecodeError as e:
        raise RecordsError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except ValueError as e:  # NaN / Infinity literals
        raise RecordsError(f"{path}: not valid JSON ({e})") from None
    except RecursionError:
        raise RecordsError(f"{path}: not valid JSON (nested too deeply)") from None
    try:
        return check_meta(obj)
    except ValueError as e:
        raise RecordsError(f"{path}: {e}") from None


META_FIELDS: dict[str, str] = {
    "suite_version": "str", "spec_version": "str", "hypothesis": "str", "seed": "int", "max_examples": "int",
    "clauses": "strs", "dtypes": "strs", "shard": "str?", "cases": "int", "complete": "bool", "options": "dict",
    "wall_seconds": "num?", "environment": "dict", "timeout": "num",
    # what the reports and report --merge read (report/render.py, report/html.py, compat.merge_runs)
    "gate": "dict", "cases_per_second": "num?", "merged_from": "int?",
}
GATE_FIELDS: dict[str, str] = {"exit_code": "int", "problems": "strs", "warnings": "strs"}
ADAPTER_FIELDS: dict[str, str] = {"info": "dict?", "cases_run": "num?", "seconds": "num?", "compilations": "int?"}
INFO_FIELDS: dict[str, str] = {"versions": "dict?", "dtypes": "strs?", "support": "dict?", "notes": "dict?"}


def check_meta(obj: Any) -> dict[str, Any]:
    """``obj`` if it has the shape of a run.json (the keys the gate and the reports read, typed); else
    ValueError naming the field."""
    if not isinstance(obj, dict):
        raise ValueError(f"run metadata must be a JSON object, got {_short(obj)}")
    _check_fields(obj, META_FIELDS, "")
    _check_fields(obj.get("gate", {}), GATE_FIELDS, "gate: ")
    adapters = obj.get("adapters", [])
    if not isinstance(adapters, list) or not all(isinstance(a, dict) and isinstance(a.get("name"), str)
                                                 for a in adapters):
        raise ValueError(f"'adapters' must be a list of objects with a string 'name', got {_short(adapters)}")
    for a in adapters:
        where = f"adapter {_short(a['name'])}: "
        _check_fields(a, ADAPTER_FIELDS, where)
        _check_fields(a.get("info") or {}, INFO_FIELDS, f"{where}info: ")
    return obj


def atomic_write(path: Path, text: str, durable: bool = True) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never half of one;
    ``durable``: on disk (fsync) before it replaces the old one -- not needed for a file that can be made
    again from what is durable (a failing case's file, from its record and the seed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; reports are for CI artifact servers too
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(_clean(data), indent=1, sort_keys=True, allow_nan=False) + "\n")


def done_keys(records: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(r["case_id"], r["adapter"]) for r in records}
