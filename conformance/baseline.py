"""Known deviations: the file a gate reads so a known FAIL is XFAIL and an unknown one fails the merge.

TOML, an optional ``[meta]`` table saying what made the file and one ``[[deviation]]`` table per
known deviation (``docs/gate.md``). An entry waives only the raw verdicts it recorded (``verdicts``:
``"FAIL"`` or ``"ERROR:<kind>"``), so a baseline written for a numeric deviation cannot hide a crash,
a hang or a NaN on the same clause. Entries rot loudly: an entry whose cases all pass now is XPASS
(the gate fails and says which entry to delete), an entry that matches nothing is warned about, and a
deviation whose worst error grew beyond the recorded ``max_ratio`` -- or that now fails with no measured
error at all -- is a regression (the gate fails).

Every key is type- and value-checked at load, so a malformed file is one line naming the file and the
entry (``BaselineError``) before any work is done, never a traceback or a silently widened waiver.
"""

from __future__ import annotations

import fnmatch
import math
import re
import stat
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from .clauses import BY_ID, FAMILIES
from .compare import ERROR_KINDS
from .dtypes import NAMES as DTYPE_NAMES
from .errors import UsageError

KEYS = {"adapter", "clauses", "case", "dtypes", "reason", "max_ratio", "verdicts"}
FAILING = ("FAIL", "ERROR")
# What an entry can waive: a FAIL, or an ERROR of one kind (conformance.compare.ERROR_KINDS).
WAIVABLE: tuple[str, ...] = ("FAIL", *(f"ERROR:{k}" for k in ERROR_KINDS))
# An entry without 'verdicts' (a baseline written before they existed) waives numeric deviations only.
LEGACY_VERDICTS: tuple[str, ...] = ("FAIL",)
# [meta]: provenance of the file; a mismatch with the run is a warning (the cases may differ).
META_TYPES: dict[str, type] = {"suite_version": str, "spec_version": str, "hypothesis": str, "seed": int,
                               "max_examples": int}
WARN_META = (("hypothesis", "hypothesis"), ("suite_version", "suite version"), ("spec_version", "spec version"),
             ("seed", "seed"), ("max_examples", "--max-examples"))
MAX_BYTES = 4 * 1024 * 1024  # a baseline is a list of findings, not data
MAX_TEXT = 2000  # characters in any one string value
CASE_ID = re.compile(rf"^(?:{'|'.join(FAMILIES)})-[0-9a-f]{{12}}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """Control characters (newlines included) shown escaped: an error is always exactly one line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class BaselineError(UsageError):
    """A baseline file that cannot be used; one line naming the file and the entry."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def _utf8(text: str) -> str:
    """Text that encodes as UTF-8 (a record decoded from JSON may hold lone surrogates)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def raw_kind(rec: dict[str, Any]) -> str | None:
    """What a baseline can waive about a record: "FAIL", "ERROR:<kind>", "ERROR" (an ERROR that does
    not say its kind, never waived) or None for a verdict that is not a failure."""
    verdict = rec.get("verdict")
    if verdict == "FAIL":
        return "FAIL"
    if verdict != "ERROR":
        return None
    kind = rec.get("error_kind")
    return f"ERROR:{kind}" if kind in ERROR_KINDS else "ERROR"


def _number(x: Any) -> float | None:
    """A ratio as records hold it: a number, or "inf"/"nan" (JSON has no such literals)."""
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, float)):
        return float(x)
    if x in ("inf", "-inf", "nan"):
        return float(x)
    return None


@dataclass
class Entry:
    index: int
    adapter: str
    reason: str
    clauses: tuple[str, ...] = ()
    case: str | None = None
    dtypes: tuple[str, ...] = ()
    max_ratio: float | None = None
    verdicts: tuple[str, ...] = LEGACY_VERDICTS
    explicit_verdicts: bool = True
    matched: int = 0
    failed: int = 0
    worst_ratio: float = 0.0
    regressions: list[str] = field(default_factory=list)
    unwaived: dict[str, str] = field(default_factory=dict)  # case_id -> raw kind this entry does not waive
    # case_id -> the clauses a failure it would waive is also charged to, which no waiving entry names
    uncovered: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def label(self) -> str:
        what = self.case or ",".join(self.clauses)
        dt = f" [{','.join(self.dtypes)}]" if self.dtypes else ""
        return f"deviation #{self.index + 1} ({self.adapter}: {what}{dt})"

    def matches(self, rec: dict[str, Any]) -> bool:
        if not fnmatch.fnmatchcase(rec["adapter"], self.adapter):
            return False
        if self.dtypes and rec["dtype"] not in self.dtypes:
            return False
        if self.case is not None:
            return rec["case_id"] == self.case
        charged = rec.get("deviates") or rec["clauses"]
        return any(fnmatch.fnmatchcase(c, p) for c in charged for p in self.clauses)

    def reset(self) -> None:
        self.matched = self.failed = 0
        self.worst_ratio = 0.0
        self.regressions = []
        self.unwaived = {}
        self.uncovered = {}


class Baseline(list[Entry]):
    """The entries of one file (a list, so callers treat it as ``list[Entry]``), with its ``[meta]``
    table and the warnings loading it gave (entries without ``verdicts``)."""

    def __init__(self, entries: Iterable[Entry] = (), path: Path | None = None,
                 meta: dict[str, Any] | None = None, warnings: Sequence[str] = ()) -> None:
        super().__init__(entries)
        self.path = path
        self.meta: dict[str, Any] = dict(meta or {})
        self.warnings: list[str] = list(warnings)
        self.by_adapter: dict[tuple[str, int], list[Entry]] = {}  # _of_adapter's memo


# ---- loading ---------------------------------------------------------------------------------------

def _read_toml(path: Path) -> dict[str, Any]:
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise BaselineError(f"{path}: not a regular file")
        if st.st_size > MAX_BYTES:
            raise BaselineError(f"{path}: {st.st_size} bytes; a baseline is at most {MAX_BYTES} bytes")
        raw = path.read_bytes()
    except OSError as e:
        raise BaselineError(f"{path}: cannot read baseline ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BaselineError(f"{path}: not UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BaselineError(f"{path}: not valid TOML ({e})") from None
    except RecursionError:
        raise BaselineError(f"{path}: not valid TOML (nested too deeply)") from None


def _meta(path: Path, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BaselineError(f"{path}: 'meta' must be a table ([meta])")
    unknown = set(data) - set(META_TYPES)
    if unknown:
        raise BaselineError(f"{path}: [meta]: unknown key(s) {_show(sorted(unknown))}; allowed: {sorted(META_TYPES)}")
    for key, want in META_TYPES.items():
        if key in data and (not isinstance(data[key], want) or isinstance(data[key], bool)):
            what = {"int": "an integer", "str": "a string", "float": "a number", "bool": "true or false"}.get(
                want.__name__, f"a {want.__name__}")
            raise BaselineError(f"{path}: [meta]: '{key}' must be {what}, got {_show(data[key])}")
        if want is str and key in data and not 0 < len(data[key]) <= MAX_TEXT:
            raise BaselineError(f"{path}: [meta]: '{key}' must be a non-empty string of at most {MAX_TEXT} characters")
    return dict(data)


def _text(where: str, row: dict[str, Any], key: str) -> str:
    v = row.get(key)
    if not isinstance(v, str) or not (v if key == "adapter" else v.strip()):
        raise BaselineError(f"{where}: needs a non-empty string '{key}', got {_show(v)}")
    if len(v) > MAX_TEXT:
        raise BaselineError(f"{where}: '{key}' is {len(v)} characters; at most {MAX_TEXT}")
    return v


def _strings(where: str, row: dict[str, Any], key: str, example: str) -> tuple[str, ...]:
    v = row[key]
    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x.strip() for x in v):
        raise BaselineError(f"{where}: '{key}' must be a non-empty list of strings, e.g. {key} = {example}; "
                            f"got {_show(v)}")
    return tuple(dict.fromkeys(v))


def _clauses(where: str, row: dict[str, Any]) -> tuple[str, ...]:
    pats = _strings(where, row, "clauses", '["UPD-EPS"]')
    unknown = [p for p in pats if not any(fnmatch.fnmatchcase(c, p) for c in BY_ID)]
    if unknown:
        raise BaselineError(f"{where}: 'clauses' pattern(s) {_show(unknown)} match no clause ID "
                            "(see `adam-conformance clauses`)")
    return pats


def _dtypes(where: str, row: dict[str, Any]) -> tuple[str, ...]:
    if "dtypes" not in row:
        return ()
    names = _strings(where, row, "dtypes", '["float32"] (omit it for every dtype)')
    unknown = [n for n in names if n not in DTYPE_NAMES]
    if unknown:
        raise BaselineError(f"{where}: unknown dtype(s) {_show(unknown)}; expected some of {', '.join(DTYPE_NAMES)}")
    return names


def _verdicts(where: str, row: dict[str, Any]) -> tuple[str, ...]:
    if "verdicts" not in row:
        return LEGACY_VERDICTS
    kinds = _strings(where, row, "verdicts", '["FAIL"] or ["ERROR:raised"]')
    unknown = [k for k in kinds if k not in WAIVABLE]
    if unknown:
        raise BaselineError(f"{where}: unknown verdict(s) {_show(unknown)} in 'verdicts'; "
                            f"expected some of {', '.join(WAIVABLE)}")
    return kinds


def _max_ratio(where: str, row: dict[str, Any], verdicts: tuple[str, ...]) -> float | None:
    if "max_ratio" not in row:
        return None
    mr = row["max_ratio"]
    if isinstance(mr, bool) or not isinstance(mr, (int, float)) or not math.isfinite(mr) or mr <= 0:
        raise BaselineError(f"{where}: 'max_ratio' must be a finite number > 0 (the worst error/bound seen), "
                            f"got {_show(mr)}")
    if "FAIL" not in verdicts:
        raise BaselineError(f"{where}: 'max_ratio' bounds a FAIL's error; this entry waives only {list(verdicts)}")
    return float(mr)


def _entry(path: Path, i: int, row: Any) -> Entry:
    where = f"{path}: deviation #{i + 1}"
    if not isinstance(row, dict):
        raise BaselineError(f"{where}: must be a table ([[deviation]])")
    if isinstance(row.get("adapter"), str):
        where += f" ({_show(row['adapter'], 40)})"
    unknown = set(row) - KEYS
    if unknown:
        raise BaselineError(f"{where}: unknown key(s) {_show(sorted(unknown))}; allowed: {sorted(KEYS)}")
    adapter, reason = _text(where, row, "adapter"), _text(where, row, "reason")
    if ("clauses" in row) == ("case" in row):
        raise BaselineError(f"{where}: give exactly one of 'clauses' (list of IDs/globs) or 'case' (a case ID)")
    clauses: tuple[str, ...] = ()
    case = None
    if "clauses" in row:
        clauses = _clauses(where, row)
    else:
        case = row["case"]
        if not isinstance(case, str) or not CASE_ID.match(case):
            raise BaselineError(f"{where}: 'case' must be a case ID such as \"UPD-0123456789ab\", got {_show(case)}")
    verdicts = _verdicts(where, row)
    return Entry(i, adapter, reason, clauses, case, _dtypes(where, row), _max_ratio(where, row, verdicts),
                 verdicts, "verdicts" in row)


def load(path: Path) -> Baseline:
    """Every entry of a baseline file, each checked; BaselineError (one line) for anything malformed."""
    path = Path(path)
    data = _read_toml(path)
    unknown = set(data) - {"meta", "deviation"}
    if unknown:
        raise BaselineError(f"{path}: unknown top-level key(s) {_show(sorted(unknown))}; "
                            "expected [meta] and [[deviation]] tables")
    meta = _meta(path, data.get("meta", {}))
    rows = data.get("deviation", [])
    if not isinstance(rows, list):
        raise BaselineError(f"{path}: 'deviation' must be an array of tables ([[deviation]])")
    entries = [_entry(path, i, row) for i, row in enumerate(rows)]
    legacy = [f"#{e.index + 1}" for e in entries if not e.explicit_verdicts]
    warnings = []
    if legacy:
        shown = ", ".join(legacy[:8]) + (f" and {len(legacy) - 8} more" if len(legacy) > 8 else "")
        warnings.append(f"{path}: deviation(s) {shown} give no 'verdicts' (an older baseline) and waive FAIL only; "
                        "regenerate with --update-baseline or add verdicts = [\"FAIL\"] / [\"ERROR:<kind>\"]")
    from .clauses import BY_ID

    for e in entries:  # legal, and the user's call -- but a reader of a green report must be told
        every_clause = all(any(fnmatch.fnmatchcase(c, pat) for pat in e.clauses) for c in BY_ID)
        if e.case is None and every_clause and e.adapter in ("*", "**"):
            warnings.append(f"{path}: {e.label()} waives {'/'.join(e.verdicts)} of every clause of every adapter: "
                            "a run green under it says only that nothing failed in another way")
    return Baseline(entries, path, meta, warnings)


def meta_warnings(baseline: Baseline, run_meta: dict[str, Any]) -> list[str]:
    """A baseline made with another hypothesis, suite or spec version, seed or --max-examples saw other
    cases: its max_ratio values may not hold. A warning, not a failure: the entries still say what is known."""
    out = []
    env = run_meta.get("environment") if isinstance(run_meta.get("environment"), dict) else {}
    for key, label in WARN_META:
        mine, theirs = baseline.meta.get(key), run_meta.get(key, env.get(key))
        if mine is not None and theirs is not None and mine != theirs:
            out.append(f"{baseline.path}: made with {label} {_show(mine)}, this run uses {_show(theirs)}: the cases "
                       "differ, recorded max_ratio values may not hold (regenerate with --update-baseline)")
    return out


# ---- applying --------------------------------------------------------------------------------------

def _waive(e: Entry, rec: dict[str, Any], kind: str) -> None:
    e.failed += 1
    ratio = _number(rec.get("ratio")) if kind == "FAIL" else None
    if ratio is not None and not math.isnan(ratio):
        e.worst_ratio = max(e.worst_ratio, ratio)
    unmeasured = kind == "FAIL" and ratio is None  # a failure of another kind: no error to hold to the bound
    if e.max_ratio is not None and (unmeasured or (ratio is not None and (math.isnan(ratio) or ratio > e.max_ratio))):
        msg = (f"regression: a failure with no measured error, where {e.label()} records a numeric deviation of "
               f"at most {e.max_ratio:.3g}x the bound" if unmeasured else
               f"regression: worst error {ratio:.3g}x bound exceeds the recorded {e.max_ratio:.3g}x ({e.label()})")
        e.regressions.append(rec["case_id"])
        rec["message"] = f"{msg}; {rec['message']}"
        rec["baseline"] = e.label()
        rec["baseline_reason"] = e.reason
        return
    rec["raw_verdict"] = rec["verdict"]
    rec["verdict"] = "XFAIL"
    rec["baseline"] = e.label()
    rec["baseline_reason"] = e.reason
    rec["message"] = f"known deviation ({e.reason}): {rec['message']}"


def _preference(e: Entry, rec: dict[str, Any]) -> int:
    """Which of several waiving entries a record is charged to: its own case entry, then an entry for its
    primary charged clause (the one ``from_records`` writes it under), then the rest in file order."""
    if e.case is not None and e.case == rec.get("case_id"):
        return 0
    charged = rec.get("deviates") or rec.get("clauses") or []
    if charged and any(fnmatch.fnmatchcase(str(charged[0]), p) for p in e.clauses):
        return 1
    return 2


def _of_adapter(entries: Sequence[Entry], adapter: str) -> Sequence[Entry]:
    """The entries whose adapter pattern matches ``adapter`` (remembered per list of a Baseline: a run
    applies it to every record, ~100 entries each)."""
    if not isinstance(entries, Baseline):
        return entries
    key = (adapter, len(entries))
    if key not in entries.by_adapter:
        entries.by_adapter[key] = [e for e in entries if fnmatch.fnmatchcase(adapter, e.adapter)]
    return entries.by_adapter[key]


def _unnamed(waivers: Sequence[Entry], rec: dict[str, Any]) -> tuple[str, ...]:
    """The clauses ``rec`` is charged to that none of ``waivers`` names (none when one is its case entry).

    Why: a failure that no alternative reading explains is charged to every clause of its case. A
    waiver written for one of them (DEC-FILTER) must not also hide a failure of another (DEC-L2) that
    the baseline never recorded; `--update-baseline` writes one entry per charged clause, so a
    baseline made from a run names them all."""
    if any(e.case is not None for e in waivers):
        return ()
    charged = rec.get("deviates") or rec["clauses"]
    return tuple(c for c in charged if not any(fnmatch.fnmatchcase(c, p) for e in waivers for p in e.clauses))


def apply(entries: Sequence[Entry], rec: dict[str, Any]) -> None:
    """Turn a FAIL/ERROR into XFAIL (or a regression FAIL) in place when an entry matching it waives its
    raw kind; count matches. A failure the matching entries do not waive stays, its message says why."""
    candidates = [e for e in _of_adapter(entries, rec["adapter"]) if e.matches(rec)]
    for e in candidates:
        e.matched += 1
    kind = raw_kind(rec)
    if kind is None or not candidates:
        return
    waivers = sorted((e for e in candidates if kind in e.verdicts), key=lambda e: _preference(e, rec))
    missing = _unnamed(waivers, rec) if waivers else ()
    if missing:  # a failure charged to several clauses is known only when every one of them is named
        for e in waivers:
            e.uncovered.setdefault(rec["case_id"], missing)
        rec["message"] = (f"not waived: also charged to {', '.join(missing)}, which no entry of this adapter names "
                          f"({waivers[0].label()} names the rest); {rec['message']}")
        return
    if waivers:
        _waive(waivers[0], rec, kind)
        for e in waivers[1:]:  # the deviation each of them describes is still there: none of them is XPASS
            e.failed += 1
        return
    for e in candidates:
        e.unwaived.setdefault(rec["case_id"], kind)
    first = candidates[0]
    rec["message"] = (f"not waived: {first.label()} waives {'/'.join(first.verdicts)} only, this is {kind}; "
                      f"{rec['message']}")


def recount(entries: Sequence[Entry], records: Iterable[dict[str, Any]]) -> None:
    """Counts over every record of a run (resumed ones included), from each record's raw verdict;
    the records themselves are left as they are."""
    for e in entries:
        e.reset()
    for r in records:
        apply(entries, dict(r, verdict=r.get("raw_verdict", r["verdict"])))


def about_selected(e: Entry, selected: Any) -> bool:
    """Whether an entry is about the clauses a run selected (``selected``: run.json's list; None: all). A
    ``case =`` entry always is: its case ran."""
    if e.case is not None or not isinstance(selected, list):
        return True
    return any(fnmatch.fnmatchcase(str(c), p) for c in selected for p in e.clauses)


def problems(entries: Sequence[Entry], run_meta: dict[str, Any] | None = None) -> tuple[list[str], list[str]]:
    """(gate failures: XPASS, regressions, unwaived failures; warnings: entries matching nothing, old
    entries without 'verdicts', a baseline made with another hypothesis/suite version than ``run_meta``)."""
    fails: list[str] = []
    warns: list[str] = []
    judged = _judged_adapters(run_meta)
    selected = run_meta.get("clauses") if isinstance(run_meta, dict) else None
    elsewhere: list[Entry] = []
    unselected: list[Entry] = []
    for e in entries:
        if e.matched == 0 and judged is not None and not any(fnmatch.fnmatchcase(a, e.adapter) for a in judged):
            elsewhere.append(e)  # about an adapter this run did not judge: nothing to say about it
        elif e.matched == 0:
            warns.append(f"{e.label()} matches no case in this run (stale? delete it or widen the run)")
        elif e.failed == 0 and not e.unwaived and not e.uncovered and not about_selected(e, selected):
            unselected.append(e)  # matched only as a case's other clause: the run did not look at it
        elif e.failed == 0 and not e.unwaived and not e.uncovered:
            fails.append(f"XPASS: {e.label()} passes now -- delete this entry from the baseline")
        if e.uncovered:
            also = sorted({c for cs in e.uncovered.values() for c in cs})
            fails.append(f"NOT WAIVED: {e.label()} matches {len(e.uncovered)} failing case(s) also charged to "
                         f"{', '.join(also)}, which no entry names, e.g. {next(iter(e.uncovered))}: add an entry "
                         "for those clauses if that deviation is known too")
        if e.unwaived:
            kinds = sorted(set(e.unwaived.values()))
            fails.append(f"NOT WAIVED: {e.label()} waives {'/'.join(e.verdicts)} only; {len(e.unwaived)} matching "
                         f"case(s) failed as {'/'.join(kinds)}, e.g. {next(iter(e.unwaived))}")
        if e.regressions:
            fails.append(f"REGRESSION: {e.label()} grew beyond max_ratio={e.max_ratio:.3g} (or failed with no "
                         f"measured error) in {len(e.regressions)} case(s), e.g. {e.regressions[0]}")
    if unselected:
        warns.append(f"{len(unselected)} baseline entr{'y is' if len(unselected) == 1 else 'ies are'} about clauses "
                     f"this run did not select ({', '.join(e.label() for e in unselected)[:300]}): not checked")
    if elsewhere:
        names = sorted({e.adapter for e in elsewhere})
        warns.append(f"{len(elsewhere)} baseline entr{'y is' if len(elsewhere) == 1 else 'ies are'} for adapters "
                     f"this run did not judge ({', '.join(names)}): not checked")
    if isinstance(entries, Baseline):  # about the file as a whole, after the entries
        warns += entries.warnings
        if run_meta:
            warns += meta_warnings(entries, run_meta)
    return fails, warns


def _judged_adapters(run_meta: dict[str, Any] | None) -> list[str] | None:
    """The names of the adapters a run judged (available ones), or None when ``run_meta`` does not say."""
    if not run_meta or not isinstance(run_meta.get("adapters"), list):
        return None
    return [str(a.get("name")) for a in run_meta["adapters"] if isinstance(a, dict) and a.get("available")]


# ---- writing ---------------------------------------------------------------------------------------

def _ceil_2(x: float) -> float:
    """Round up to two significant digits: the recorded worst error, never below what was seen."""
    e = math.floor(math.log10(x)) - 1
    return math.ceil(x / 10**e) * 10**e if e < 0 else float(math.ceil(x / 10**e) * 10**e)


def _file_meta(meta: dict[str, Any] | None) -> dict[str, Any]:
    if not meta:
        return {}
    env = meta.get("environment") if isinstance(meta.get("environment"), dict) else {}
    out = {}
    for key, want in META_TYPES.items():
        v = meta.get(key, env.get(key))
        if isinstance(v, want) and not isinstance(v, bool) and (want is not str or 0 < len(v) <= MAX_TEXT):
            out[key] = v
    return out


def _glob_escape(name: str) -> str:
    """An adapter name as a glob that matches only that name ("a*" -> "a[*]")."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def from_records(records: Iterable[dict[str, Any]], meta: dict[str, Any] | None = None) -> str:
    """A baseline listing every current deviation: one entry per adapter, charged clause and raw kind
    (FAIL, ERROR:<kind>), with the dtypes seen -- every clause a failure is charged to, since a failure
    is waived only where each of them is named (``apply``); ``meta`` (the run's run.json) fills [meta]. A record
    that was waived keeps its entry's reason. ERRORs that do not say their kind are left out (they stay
    failures) and counted in a comment."""
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    kindless = 0
    for r in records:
        verdict = r.get("raw_verdict", r["verdict"])
        if verdict not in FAILING:
            continue
        kind = raw_kind(dict(r, verdict=verdict))
        if kind not in WAIVABLE:
            kindless += 1
            continue
        assert kind is not None
        why = (r.get("explained_by") or [r.get("message", "")])[0]
        reason = _utf8(r.get("baseline_reason") or f"{kind}: {why}"[:200])
        ratio = _number(r.get("ratio"))
        for clause in dict.fromkeys(r.get("deviates") or r["clauses"]):
            g = groups.setdefault((r["adapter"], clause, kind), {"dtypes": set(), "ratio": 0.0, "reason": reason})
            g["dtypes"].add(r["dtype"])
            if kind == "FAIL" and ratio is not None:  # an unmeasurable (nan) ratio bounds nothing, as inf
                g["ratio"] = max(g["ratio"], math.inf if math.isnan(ratio) else ratio)
            elif kind == "FAIL":  # a failure with no error ratio (a dtype change, a wrong refusal): no max_ratio
                g["ratio"] = math.inf
    rows = []
    for (adapter, clause, kind), g in sorted(groups.items()):
        row: dict[str, Any] = {"adapter": _glob_escape(_utf8(adapter)), "clauses": [clause],
                               "dtypes": sorted(g["dtypes"]), "verdicts": [kind], "reason": g["reason"]}
        if g["ratio"] > 0 and math.isfinite(g["ratio"]):
            row["max_ratio"] = _ceil_2(g["ratio"])
        rows.append(row)
    head = ("# adam-conformance baseline: known deviations (docs/gate.md).\n"
            "# Each entry turns matching records of the listed raw verdicts (FAIL, ERROR:<kind>) into XFAIL;\n"
            "# edit 'reason' to say why.\n")
    if kindless:
        head += f"# Not listed: {kindless} ERROR record(s) that do not say their kind (an older results file).\n"
    body: dict[str, Any] = {}
    file_meta = _file_meta(meta)
    if file_meta:
        body["meta"] = file_meta
    body["deviation"] = rows
    return head + "\n" + tomli_w.dumps(body)
