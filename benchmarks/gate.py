"""Where the gate's time goes, as ratios: framework time against the implementations' own.

    python benchmarks/gate.py                                   # the README's main job (every adapter here)
    python benchmarks/gate.py --adapter torch-cpu-single        # one adapter
    python benchmarks/gate.py --adapter optax-cpu --repeat 2    # second run: warm persistent caches

The case cache starts empty (a directory of the benchmark's own), so run 1 is a cold first run, with
generation, and later runs (``--repeat``) read the case set back, as every run after the first does.

Each run is the real CLI in a subprocess (``adam-conformance run``, whole-process wall time, imports
included) with the committed baseline; the figures come from the run.json it writes. Printed per
adapter: cases, the implementation's own seconds (the adapter's run(): construct + steps, measured in
its worker), worker start seconds, the worker's framework seconds around it (building each case,
converting each outcome), compilations; for the run: generation, judging (reference + error model +
comparison), waiting on workers, writing, and the two ratios the performance targets are stated in
(docs/performance.md). A benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cli() -> list[str]:
    # ``-m`` from ROOT: the checkout this script lives in, whatever is installed in the environment.
    return [sys.executable, "-m", "conformance.cli"]


def run_once(adapters: list[str], out: Path, extra: list[str]) -> tuple[float, dict]:
    args = [a for name in adapters for a in ("--adapter", name)] or ["--allow-unavailable"]
    cache = [] if "--no-case-cache" in extra else ["--cache-dir", str(out.parent / f"{out.name}-cases")]
    cmd = [*_cli(), "run", *args, "--baseline", str(ROOT / "reports" / "baseline.toml"), "--out", str(out), "--quiet",
           *cache, *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if not (out / "run.json").exists():
        sys.exit(f"the run wrote no run.json (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return wall, json.loads((out / "run.json").read_text())


def report(wall: float, meta: dict) -> str:
    rows = [f"{'adapter':28} {'cases':>6} {'own s':>8} {'start s':>8} {'worker fw s':>11} {'compiles':>9} "
            f"{'restarts':>8}"]
    slowest = 0.0
    for a in meta.get("adapters", []):
        own, start = a.get("seconds") or 0.0, a.get("start_seconds") or 0.0
        slowest = max(slowest, own + start)
        rows.append(f"{a.get('name', '?')[:28]:28} {a.get('cases_run', 0):6d} {own:8.2f} {start:8.2f} "
                    f"{a.get('worker_framework_seconds') or 0.0:11.2f} {a.get('compilations')!s:>9} "
                    f"{a.get('worker_restarts', 0):8d}")
    t = meta.get("timing", {})
    rows.append("")
    rows.append(f"whole process wall {wall:.2f} s; gate wall {meta.get('wall_seconds', 0):.2f} s; "
                f"cases {meta.get('cases')}")
    rows.append("framework: " + ", ".join(f"{k.removesuffix('_seconds')} {v:.2f} s" for k, v in t.items()
                                          if k.endswith("_seconds") and isinstance(v, (int, float))))
    if t.get("explainer_answers") is not None:
        rows.append(f"failures explained in the explainer process: {t['explainer_answers']}")
    if slowest > 0:
        rows.append(f"ratio: whole-process wall / slowest adapter's (start + own) = {wall / slowest:.2f} x")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--adapter", action="append", default=[])
    ap.add_argument("--repeat", type=int, default=1, help="run again in the same directory (warm caches)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the run directory here")
    ap.add_argument("extra", nargs="*", help="more `run` arguments, after --")
    ns = ap.parse_args()
    out = ns.keep or Path(tempfile.mkdtemp(prefix="adam-bench-"))
    try:
        for i in range(ns.repeat):
            wall, meta = run_once(ns.adapter, out, ns.extra)
            print(f"== run {i + 1} ({', '.join(ns.adapter) or 'every adapter available here'}; "
                  f"{os.cpu_count()} cores)")
            print(report(wall, meta))
    finally:
        shutil.rmtree(out.parent / f"{out.name}-cases", ignore_errors=True)
        if ns.keep is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
