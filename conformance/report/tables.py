"""The conformance table: implementations x clauses, counts and the worst error per cell (pandas)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from ..clauses import CLAUSES

VERDICTS = ("PASS", "FAIL", "ERROR", "UNSUPPORTED", "XFAIL", "XPASS")
BAD = ("FAIL", "ERROR", "XPASS")


def clause_verdicts(r: dict[str, Any]) -> list[tuple[str, str]]:
    """(clause, verdict) pairs of a record: a failure counts against the clauses it is charged to
    (``deviates``: those whose alternative reading explains it), and the case's other clauses are
    counted as passing -- the trajectory does satisfy them once that one reading is swapped."""
    charged = r.get("deviates") or []
    if r["verdict"] not in ("FAIL", "ERROR", "XFAIL", "XPASS") or not charged:
        return [(c, r["verdict"]) for c in r["clauses"]]
    return [(c, r["verdict"] if c in charged else "PASS") for c in dict.fromkeys([*r["clauses"], *charged])]


def frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per (record, clause): a case counts under every clause it exercises."""
    rows = [{"adapter": r["adapter"], "clause": c, "dtype": r["dtype"], "verdict": v,
             "ratio": r.get("ratio") if v == r["verdict"] else None, "max_abs_err": r.get("max_abs_err"),
             "case_id": r["case_id"], "message": r.get("message", "")}
            for r in records for c, v in clause_verdicts(r)]
    cols = ["adapter", "clause", "dtype", "verdict", "ratio", "max_abs_err", "case_id", "message"]
    return pd.DataFrame(rows, columns=cols)


def counts(df: pd.DataFrame) -> pd.DataFrame:
    """adapter x clause -> counts per verdict and the worst error-to-bound ratio."""
    if df.empty:
        return pd.DataFrame(columns=["adapter", "clause", *VERDICTS, "worst_ratio", "worst_abs"])
    c = pd.crosstab([df.adapter, df.clause], df.verdict).reindex(columns=list(VERDICTS), fill_value=0)
    num = df.assign(ratio=pd.to_numeric(df.ratio, errors="coerce"),
                    max_abs_err=pd.to_numeric(df.max_abs_err, errors="coerce"))
    worst = num.groupby(["adapter", "clause"]).agg(worst_ratio=("ratio", "max"), worst_abs=("max_abs_err", "max"))
    return c.join(worst).reset_index()


def cell(row: pd.Series) -> str:
    """'12 pass', '3/12 FAIL (x4.1e+03)', '8 pass, 5 unsupported', 'unsupported' -- readable in a Markdown
    table. Declined cases are counted beside the judged ones: a clause whose half-precision cases were all
    declined must not read as '8 pass' alone."""
    ran = int(sum(row[v] for v in VERDICTS if v != "UNSUPPORTED"))
    bad = int(row["FAIL"] + row["ERROR"] + row["XPASS"])
    if ran == 0:
        return "unsupported" if row["UNSUPPORTED"] else ""
    worst = row["worst_ratio"]
    tail = f" (x{worst:.2g})" if pd.notna(worst) and worst > 1 else ""  # worst error / its bound
    declined = f", {int(row['UNSUPPORTED'])} unsupported" if row["UNSUPPORTED"] else ""
    if bad:
        kinds = "/".join(k for k in BAD if row[k])
        return f"{bad}/{ran} {kinds}{tail}{declined}"
    xf = int(row["XFAIL"])
    return (f"{ran - xf} pass, {xf} xfail{tail}" if xf else f"{ran} pass") + declined


def pivot(records: Iterable[dict[str, Any]], adapters: Sequence[str] | None = None) -> pd.DataFrame:
    """Clauses as rows (catalog order), adapters as columns, a readable cell in each."""
    df = counts(frame(records))
    if df.empty:
        return pd.DataFrame()
    df["cell"] = df.apply(cell, axis=1)
    p = df.pivot(index="clause", columns="adapter", values="cell").fillna("")
    order = [c.id for c in CLAUSES if c.id in p.index]
    cols = [a for a in (adapters or p.columns) if a in p.columns]
    return p.loc[order, cols]


def totals(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in records:
        out.setdefault(r["adapter"], dict.fromkeys(VERDICTS, 0))[r["verdict"]] += 1
    return out
