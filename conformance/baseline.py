"""Known deviations: the file a gate reads so a known FAIL is XFAIL and an unknown one fails the merge.

TOML, one ``[[deviation]]`` table per known deviation (``docs/gate.md``). Entries rot loudly: an
entry whose cases all pass now is XPASS (the gate fails and says which entry to delete), an entry
that matches nothing is warned about, and a deviation whose worst error grew beyond the recorded
``max_ratio`` is a regression (the gate fails).
"""

from __future__ import annotations

import fnmatch
import math
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

KEYS = {"adapter", "clauses", "case", "dtypes", "reason", "max_ratio"}
FAILING = ("FAIL", "ERROR")


class BaselineError(ValueError):
    """A baseline file that cannot be used; one line naming the file and the entry."""


@dataclass
class Entry:
    index: int
    adapter: str
    reason: str
    clauses: tuple[str, ...] = ()
    case: str | None = None
    dtypes: tuple[str, ...] = ()
    max_ratio: float | None = None
    matched: int = 0
    failed: int = 0
    worst_ratio: float = 0.0
    regressions: list[str] = field(default_factory=list)

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


def load(path: Path) -> list[Entry]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise BaselineError(f"{path}: cannot read baseline ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise BaselineError(f"{path}: not valid TOML ({e})") from None
    rows = data.get("deviation", [])
    if not isinstance(rows, list):
        raise BaselineError(f"{path}: 'deviation' must be an array of tables ([[deviation]])")
    out = []
    for i, row in enumerate(rows):
        where = f"{path}: deviation #{i + 1}"
        if not isinstance(row, dict):
            raise BaselineError(f"{where}: must be a table")
        unknown = set(row) - KEYS
        if unknown:
            raise BaselineError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(KEYS)}")
        if not isinstance(row.get("adapter"), str) or not isinstance(row.get("reason"), str):
            raise BaselineError(f"{where}: needs string 'adapter' and 'reason'")
        if ("clauses" in row) == ("case" in row):
            raise BaselineError(f"{where}: give exactly one of 'clauses' (list of IDs/globs) or 'case' (a case ID)")
        clauses = row.get("clauses", [])
        if not isinstance(clauses, list) or not all(isinstance(c, str) for c in clauses):
            raise BaselineError(f"{where}: 'clauses' must be a list of strings")
        mr = row.get("max_ratio")
        if mr is not None and not isinstance(mr, (int, float)):
            raise BaselineError(f"{where}: 'max_ratio' must be a number")
        out.append(Entry(i, row["adapter"], row["reason"], tuple(clauses), row.get("case"),
                         tuple(row.get("dtypes", [])), None if mr is None else float(mr)))
    return out


def apply(entries: list[Entry], rec: dict[str, Any]) -> None:
    """Turn a listed FAIL/ERROR into XFAIL (or a regression FAIL) in place; count matches."""
    for e in entries:
        if not e.matches(rec):
            continue
        e.matched += 1
        if rec["verdict"] not in FAILING:
            return
        e.failed += 1
        ratio = rec.get("ratio")
        if isinstance(ratio, (int, float)):
            e.worst_ratio = max(e.worst_ratio, float(ratio))
        if e.max_ratio is not None and isinstance(ratio, (int, float)) and ratio > e.max_ratio:
            msg = f"regression: worst error {ratio:.3g}x bound exceeds the recorded {e.max_ratio:.3g}x ({e.label()})"
            e.regressions.append(rec["case_id"])
            rec["message"] = f"{msg}; {rec['message']}"
            rec["baseline"] = e.label()
            return
        rec["raw_verdict"] = rec["verdict"]
        rec["verdict"] = "XFAIL"
        rec["baseline"] = e.label()
        rec["message"] = f"known deviation ({e.reason}): {rec['message']}"
        return


def problems(entries: list[Entry]) -> tuple[list[str], list[str]]:
    """(gate failures: XPASS and regressions, warnings: entries matching nothing)."""
    fails, warns = [], []
    for e in entries:
        if e.matched == 0:
            warns.append(f"{e.label()} matches no case in this run (stale? delete it or widen the run)")
        elif e.failed == 0:
            fails.append(f"XPASS: {e.label()} passes now -- delete this entry from the baseline")
        if e.regressions:
            fails.append(f"REGRESSION: {e.label()} grew beyond max_ratio={e.max_ratio:.3g} in "
                         f"{len(e.regressions)} case(s), e.g. {e.regressions[0]}")
    return fails, warns


def _ceil_2(x: float) -> float:
    """Round up to two significant digits: the recorded worst error, never below what was seen."""
    e = math.floor(math.log10(x)) - 1
    return math.ceil(x / 10**e) * 10**e if e < 0 else float(math.ceil(x / 10**e) * 10**e)


def from_records(records: Iterable[dict[str, Any]]) -> str:
    """A baseline that lists every current deviation, grouped by adapter and primary clause."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        verdict = r.get("raw_verdict", r["verdict"])
        if verdict not in FAILING:
            continue
        key = (r["adapter"], (r.get("deviates") or r["clauses"])[0])
        why = (r.get("explained_by") or [r.get("message", "")])[0]
        g = groups.setdefault(key, {"adapter": key[0], "clauses": [key[1]], "dtypes": set(), "ratio": 0.0,
                                    "reason": f"{r['verdict']}: {why}"[:200]})
        g["dtypes"].add(r["dtype"])
        if isinstance(r.get("ratio"), (int, float)):
            g["ratio"] = max(g["ratio"], float(r["ratio"]))
    rows = []
    for (_, _), g in sorted(groups.items()):
        row: dict[str, Any] = {"adapter": g["adapter"], "clauses": g["clauses"], "dtypes": sorted(g["dtypes"]),
                               "reason": g["reason"]}
        if g["ratio"] > 0 and math.isfinite(g["ratio"]):
            row["max_ratio"] = _ceil_2(g["ratio"])
        rows.append(row)
    head = ("# adam-conformance baseline: known deviations (docs/gate.md).\n"
            "# Each entry turns matching FAIL/ERROR records into XFAIL; edit 'reason' to say why.\n\n")
    return head + tomli_w.dumps({"deviation": rows})
