"""Regenerate the published conformance table: reports/README.md.

Runs the default gate over every adapter that can run here with the committed baseline
(reports/baseline.toml), keeps the run under reports/published/, copies one replayable case file per
finding to reports/cases/, and writes reports/README.md: the table (implementations x clauses, worst
error per cell) and a one-line finding per deviation with a link to its case file.

    python scripts/publish.py                    # run + render
    python scripts/publish.py --refresh-baseline # also rewrite reports/baseline.toml from this run
    python scripts/publish.py --render-only      # re-render from reports/published/
    python scripts/publish.py --selftest         # also rerun the selftest (kill rate, margins)

The run is a library call (``conformance.gate.run``), exactly what ``adam-conformance run
--allow-unavailable --seed 0 --no-shrink --baseline reports/baseline.toml --out reports/published``
does; the dashboard ``reports/published/report.html`` is written by the run itself.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conformance.records import read_records  # noqa: E402
from conformance.report.render import adapter_lines, header_lines  # noqa: E402
from conformance.report.tables import pivot  # noqa: E402

REPORTS = ROOT / "reports"
RUN = REPORTS / "published"
CASES = REPORTS / "cases"
BASELINE = REPORTS / "baseline.toml"


def run(refresh: bool) -> int:
    from conformance import gate
    from conformance.commands import _CliEvents, _print_summary

    cfg = gate.RunConfig(adapters=(), out=RUN, seed=0, shrink=False, allow_unavailable=True,
                         baseline=None if refresh else BASELINE, update_baseline=BASELINE if refresh else None)
    events = _CliEvents(quiet=not sys.stderr.isatty())
    try:
        result = gate.run(cfg, events)
    finally:
        events.close()
    _print_summary(result.meta, [r.to_dict() for r in result.records], result.problems, result.warnings)
    return result.exit_code


def selftest_section() -> list[str]:
    """The selftest's figures (kill rate, false alarms, per-dtype margins), if it was run."""
    path = REPORTS / "selftest.md"
    if not path.exists():
        return []
    return ["## The gate's own kill rate (`adam-conformance selftest`)", "", path.read_text().strip(), ""]


def run_selftest() -> None:
    from conformance import selftest

    result = selftest.selftest()
    (REPORTS / "selftest.md").write_text(selftest.render_markdown(result) if hasattr(selftest, "render_markdown")
                                         else "```\n" + selftest.render(result) + "\n```\n")


def findings(records: list[dict[str, Any]]) -> list[str]:
    """One line per (adapter, charged clause, kind of deviation), with a case file to replay."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        verdict = r.get("raw_verdict", r["verdict"])
        if verdict not in ("FAIL", "ERROR"):
            continue
        if verdict == "ERROR":  # one root cause (an exception) often hits cases of many clauses
            kind = re.sub(r"[0-9.e+-]+|\(.*?\)", "#", r["message"])[:90]
            groups[(r["adapter"], "ERROR", kind)].append(r)
            continue
        clause = (r.get("deviates") or r["clauses"])[0]
        default = ("wrong exception behaviour" if r.get("kind") == "construct"
                   else "values differ beyond the error model")
        kind = (r.get("explained_by") or [default])[0]
        groups[(r["adapter"], clause, f"FAIL: {kind}")].append(r)
    fresh = (RUN / "failures").is_dir()  # after a run; --render-only keeps the case files it has
    if fresh:
        shutil.rmtree(CASES, ignore_errors=True)
    CASES.mkdir(parents=True, exist_ok=True)
    lines = []
    for (adapter, clause, kind), recs in sorted(groups.items()):
        if clause == "ERROR":
            clause = ",".join(sorted({c for r in recs for c in r["clauses"]}))
            kind = "ERROR"
        worst = max(recs, key=lambda r: r.get("ratio") or 0)
        src = RUN / worst["case_file"] if worst.get("case_file") else None
        link = ""
        if src and src.exists() and fresh:
            shutil.copy(src, CASES / src.name)
        if src and (CASES / src.name).exists():
            link = (f" [case](cases/{src.name}) (`adam-conformance replay reports/cases/{src.name} "
                    f"--adapter {adapter}`)")
        dtypes = ",".join(sorted({r["dtype"] for r in recs}))
        ratio = worst.get("ratio")
        size = f", worst x{ratio:.2g} of the bound" if isinstance(ratio, (int, float)) and ratio > 1 else ""
        msg = worst["message"].replace("|", "\\|")
        if "known deviation (" in msg:
            msg = msg.split("): ", 1)[-1]
        lines.append(f"- **{adapter}** {clause} ({len(recs)} cases, {dtypes}{size}): {kind[:140]} -- "
                     f"e.g. {msg[:200]}{link}")
    return lines


def render() -> None:
    meta = json.loads((RUN / "run.json").read_text())
    records = list(read_records(RUN / "results.jsonl"))
    table = pivot(records, [a.get("name") for a in meta.get("adapters", [])])
    cols = list(table.columns)
    md = ["# Published conformance table", "",
          "Generated by `python scripts/publish.py` (the default gate, seed 0, every adapter that runs on this "
          "machine, committed baseline `reports/baseline.toml`). Cells: cases run and failed, with the worst "
          "error as a multiple of its bound; a failure counts under the clause it is charged to.", "",
          *header_lines(meta), "", "## Adapters", "", *adapter_lines(meta), "", "## Implementations x clauses", "",
          "| clause | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for clause, row in table.iterrows():
        md.append(f"| {clause} | " + " | ".join(str(row[c]) for c in cols) + " |")
    md += ["", "XFAIL cells are deviations listed in the baseline; they are real findings, known and accepted "
           "by the gate.", "", "The dashboard of this run: [published/report.html](published/report.html) "
           "(one self-contained file: heat map, error/bound strip plots, trajectories of the failures).", "",
           "## Findings (one line per deviation)", "", *findings(records), "", *selftest_section()]
    (REPORTS / "README.md").write_text("\n".join(md))
    print(f"wrote {REPORTS / 'README.md'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refresh-baseline", action="store_true")
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args()
    rc = 0
    if not args.render_only:
        rc = run(args.refresh_baseline)
    if args.selftest:
        run_selftest()
    render()
    # failures/ stays: the dashboard (published/report.html) links every failing case to its file
    return rc


if __name__ == "__main__":
    sys.exit(main())
