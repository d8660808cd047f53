"""Benchmark: build every report of a 10,000-record run (records resampled from a real run).

    python scripts/bench_report.py [RUN_DIR] [N]

Takes the records of RUN_DIR (default reports/published), repeats them with fresh case IDs up to N
(default 10,000) -- the same mix of verdicts, dtypes and adapters, failures with their traces (a
synthetic 20-step one where the run predates traces) --
and times each renderer once; prints seconds and sizes. The figure in docs/reports.md comes from it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conformance.records import read_records  # noqa: E402
from conformance.report import render  # noqa: E402


def main() -> int:
    run = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "reports" / "published"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    meta = json.loads((run / "run.json").read_text())
    base = list(read_records(run / "results.jsonl"))
    records = [dict(r, case_id=f"{r['case_id']}-{i // len(base)}") for i, r in
               enumerate(base[i % len(base)] for i in range(n))]
    if not any(r.get("trace") for r in records):  # a run from before traces: give failures a 20-step one
        for r in records:
            w = r.get("worst")
            if r.get("raw_verdict", r["verdict"]) == "FAIL" and w and "index" in w:
                steps = list(range(1, 21))
                r["trace"] = {"param": w["param"], "index": w["index"], "quantity": w["quantity"], "step": steps,
                              "want": [w["want"]] * 20, "got": [w["got"]] * 20, "abs_err": [w["abs_err"]] * 20,
                              "bound": [w["bound"]] * 20}
    traced = sum(1 for r in records if r.get("trace"))
    print(f"{len(records)} records ({traced} with a trace), {len(meta.get('adapters', []))} adapters")
    for name, fn in (("summary.md", lambda: render.markdown(meta, records)),
                     ("junit.xml", lambda: render.junit(meta, records)),
                     ("summary.json", lambda: json.dumps(render.summary(meta, records), default=str)),
                     ("report.html", lambda: render.html_page(meta, records))):
        t0 = time.perf_counter()
        text = fn()
        print(f"{name:13s} {time.perf_counter() - t0:6.2f} s  {len(text.encode()) / 1e6:6.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
