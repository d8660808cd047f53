"""``adam-conformance selftest``: the gate run over a zoo of faulty and faithful Adams, and its kill rate.

A conformance gate is only as good as what it catches and what it leaves alone. The zoo
(``conformance/zoo``) holds one realistic bug per faulty implementation -- NumPy adapters, torch
optimizer classes through the generic ``torch:`` adapter, optax factories through ``optax:`` -- and
faithful controls in every arithmetic style. This module runs them through ``gate.run`` (the real
loaders, workers, generation, judging and attribution; nothing here judges), then reports per fault
the first clause that kills it and how long that took, the kill rate, the false alarms of the
faithful members, and per dtype the margin: the largest error/bound ratio any faithful member
reaches next to the smallest ratio at which each fault is caught.

Cost: a fault runs only the cases of its own clause family and of the few other faults' families that
share its gate run (a fault is killed on its clause, and its family's cases are where that clause is
exercised); a backend's faithful members run the families its faults are judged in. At most
``BATCH`` adapters (= worker processes) share a run.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .model import Event, Record
from .zoo.catalog import Member, members

BATCH = 8  # adapters per gate run: each is a worker process (torch/jax workers are heavy)
KILL_VERDICTS = ("FAIL", "ERROR")
KILL_ERRORS = (None, "raised", "nonfinite")  # an ERROR the implementation caused, not the harness
OnEvent = Callable[[Event], None]


@dataclass
class FaultResult:
    """One faulty member: was it killed on its clause, where first, after how much adapter time."""

    member: Member
    name: str = ""
    killed: bool = False
    unavailable: str | None = None
    first_clause: str | None = None  # the clause of the first case (in run order) that flags it at all
    first_case: str | None = None
    seconds_to_kill: float | None = None
    seconds: float = 0.0
    cases: int = 0
    kills: int = 0
    ratio: dict[str, float] = field(default_factory=dict)  # dtype -> largest ratio among its killing FAILs


@dataclass
class FaithfulResult:
    """One faithful member: judged cases, false alarms, the largest PASS ratio per dtype."""

    member: Member
    name: str = ""
    unavailable: str | None = None
    judged: int = 0
    alarms: list[Record] = field(default_factory=list)
    ratio: dict[str, float] = field(default_factory=dict)


@dataclass
class Margin:
    dtype: str
    faithful_max: float | None
    faithful_by: str | None
    fault_min: float | None
    fault_by: str | None

    @property
    def room(self) -> float | None:
        """How many times the weakest catch exceeds the worst faithful ratio."""
        if self.faithful_max is None or self.fault_min is None or self.faithful_max <= 0:
            return None
        return self.fault_min / self.faithful_max


@dataclass
class SelftestResult:
    faults: list[FaultResult]
    faithful: list[FaithfulResult]
    seconds: float
    settings: dict[str, Any]
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ran(self) -> list[FaultResult]:
        return [f for f in self.faults if f.unavailable is None]

    @property
    def kill_rate(self) -> float:
        ran = self.ran
        return sum(f.killed for f in ran) / len(ran) if ran else 0.0

    @property
    def false_alarms(self) -> int:
        return sum(len(f.alarms) for f in self.faithful)

    @property
    def ok(self) -> bool:
        return bool(self.ran) and self.kill_rate == 1.0 and self.false_alarms == 0

    def margins(self) -> list[Margin]:
        dtypes = sorted({d for r in (*self.faults, *self.faithful) for d in r.ratio},
                        key=lambda d: ("float64", "float32", "float16", "bfloat16").index(d))
        out = []
        for d in dtypes:
            fa = max(((r.ratio[d], r.name) for r in self.faithful if d in r.ratio), default=(None, None))
            fl = min(((r.ratio[d], r.name) for r in self.faults if d in r.ratio), default=(None, None))
            out.append(Margin(d, fa[0], fa[1], fl[0], fl[1]))
        return out


def _emit(on_event: OnEvent | None, message: str, **kw: Any) -> None:
    if on_event is not None:
        on_event(Event("phase", message, **kw))


def _pattern(families: set[str]) -> str:
    return ",".join(f"{f}-*" for f in sorted(families))


def batches(zoo: Sequence[Member], size: int = BATCH) -> list[tuple[str, list[Member]]]:
    """(clause pattern, members) per gate run.

    A backend's faults, in clause-family order, are cut into runs of at most ``size`` adapters, each
    run over the families of its faults; a backend's faithful members run together over every family
    its faults are judged in (the controls for exactly those cases: all of them for NumPy, whose faults
    span every family; fewer for torch and optax, whose compile-per-structure workers cost most).
    Fewer, fuller runs: each gate run pays for starting its workers and writing its reports.
    """
    out: list[tuple[str, list[Member]]] = []
    for backend in sorted({m.backend for m in zoo}):
        faults = sorted((m for m in zoo if m.backend == backend and not m.faithful), key=lambda m: m.family)
        controls = [m for m in zoo if m.backend == backend and m.faithful]
        if controls:
            out.append((_pattern({m.family for m in faults}) if faults else "", controls))
        for i in range(0, len(faults), size):
            chunk = faults[i:i + size]
            out.append((_pattern({m.family for m in chunk}), chunk))
    return out


def _kills(rec: Record, clause: str) -> bool:
    return (rec.verdict in KILL_VERDICTS and (rec.verdict == "FAIL" or rec.error_kind in KILL_ERRORS)
            and (clause in rec.clauses or clause in rec.deviates))


def _fault_result(m: Member, name: str, recs: list[Record]) -> FaultResult:
    assert m.clause is not None
    r = FaultResult(m, name, cases=len(recs), seconds=round(sum(x.seconds for x in recs), 3))
    elapsed = 0.0
    for rec in sorted(recs, key=lambda x: (x.seq if x.seq is not None else 0)):
        elapsed += rec.seconds
        if r.first_clause is None and _kills(rec, (rec.deviates or rec.clauses or ("",))[0]):
            r.first_clause, r.first_case = (rec.deviates or rec.clauses)[0], rec.case_id
        if not _kills(rec, m.clause):
            continue
        r.kills += 1
        if not r.killed:
            r.killed, r.seconds_to_kill = True, round(elapsed, 3)
        if rec.verdict == "FAIL" and rec.ratio is not None:
            r.ratio[rec.dtype] = max(r.ratio.get(rec.dtype, 0.0), float(rec.ratio))
    return r


def _faithful_result(m: Member, name: str, recs: list[Record]) -> FaithfulResult:
    r = FaithfulResult(m, name)
    for rec in recs:
        if rec.verdict == "UNSUPPORTED":
            continue
        r.judged += 1
        if rec.verdict in KILL_VERDICTS:
            r.alarms.append(rec)
        elif rec.ratio is not None:
            r.ratio[rec.dtype] = max(r.ratio.get(rec.dtype, 0.0), float(rec.ratio))
    return r


def selftest(max_examples: int = 3, seed: int = 0, on_event: OnEvent | None = None, *,
             zoo: Sequence[Member] | None = None, out: Path | None = None, jobs: int = 1,
             timeout: float = 120.0) -> SelftestResult:
    """Run the gate over the zoo (every member when ``zoo`` is None) and collect kills, alarms and margins."""
    from . import gate

    zoo = tuple(members() if zoo is None else zoo)
    for pattern, ms in batches(zoo):  # every run's options checked before the first one starts
        gate.plan(gate.RunConfig(adapters=[m.spec for m in ms], out=Path(tempfile.gettempdir()) / "adam-selftest-check",
                                 seed=seed, max_examples=max_examples, clauses=pattern, shrink=False, jobs=jobs,
                                 timeout=timeout, allow_unavailable=True, baseline=None, case_cache=False))
    t0 = time.monotonic()
    faults: list[FaultResult] = []
    faithful: list[FaithfulResult] = []
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="adam-selftest-") as tmp:
        root = Path(out) if out is not None else Path(tmp)
        plan = batches(zoo)
        for i, (pattern, ms) in enumerate(plan):
            _emit(on_event, f"selftest run {i + 1}/{len(plan)}: {len(ms)} adapter(s), clauses {pattern or 'all'}",
                  done=i, total=len(plan))
            cfg = gate.RunConfig(adapters=[m.spec for m in ms], out=root / f"run{i:02d}", seed=seed,
                                 max_examples=max_examples, clauses=pattern, shrink=False, jobs=jobs,
                                 timeout=timeout, allow_unavailable=True, baseline=None)
            r0 = time.monotonic()
            res = gate.run(cfg)
            runs.append({"clauses": pattern or "all", "adapters": [m.spec for m in ms], "exit_code": res.exit_code,
                         "seconds": round(time.monotonic() - r0, 1), "problems": list(res.problems)})
            by_spec = _records_by_spec(res, ms)
            for m in ms:
                name, recs, why = by_spec[m.spec]
                if m.faithful:
                    fr = _faithful_result(m, name, recs)
                    fr.unavailable = why
                    faithful.append(fr)
                else:
                    fl = _fault_result(m, name, recs)
                    fl.unavailable = why
                    faults.append(fl)
    settings = {"max_examples": max_examples, "seed": seed, "members": len(zoo), "gate_runs": len(runs)}
    return SelftestResult(faults, faithful, round(time.monotonic() - t0, 1), settings, runs)


def _records_by_spec(res: Any, ms: Sequence[Member]) -> dict[str, tuple[str, list[Record], str | None]]:
    """Each member's adapter name, records, and why it did not run (None when it ran)."""
    adapters = res.meta.get("adapters") or []
    name_of: dict[str, str] = {}
    for a in adapters if isinstance(adapters, list) else []:
        if isinstance(a, dict) and a.get("spec") and a.get("name"):
            name_of[a["spec"]] = a["name"]
    out = {}
    for m in ms:
        name = name_of.get(m.spec, m.spec)
        recs = [r for r in res.records if r.adapter == name]
        why = None if recs else "; ".join(p for p in (*res.problems, *res.warnings) if m.spec in p or name in p) \
            or "no records"
        out[m.spec] = (name, recs, why)
    return out


# ---- rendering -----------------------------------------------------------------------------------

def _g(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def render(result: SelftestResult) -> str:
    """The selftest's report as plain text: faults, faithful members, margins, the verdict line."""
    lines = [f"adam-conformance selftest: {len(result.faults)} faults, {len(result.faithful)} faithful, "
             f"seed {result.settings['seed']}, max-examples {result.settings['max_examples']}, "
             f"{result.settings['gate_runs']} gate runs, {result.seconds:.0f} s", ""]
    lines.append(f"{'fault':58} {'clause':16} {'killed':7} {'first killing clause':22} {'to kill s':>9} "
                 f"{'kills':>5}/{'cases':<5} min ratio")
    for f in result.faults:
        state = "n/a" if f.unavailable else ("yes" if f.killed else "NO")
        lines.append(f"{f.name[:58]:58} {f.member.clause or '':16} {state:7} {f.first_clause or '-':22} "
                     f"{_g(f.seconds_to_kill):>9} {f.kills:>5}/{f.cases:<5} "
                     f"{_g(min(f.ratio.values()) if f.ratio else None)}")
    lines += ["", f"{'faithful':58} {'judged':>6} {'alarms':>6}  max ratio per dtype"]
    for fa in result.faithful:
        per = ", ".join(f"{d} {_g(v)}" for d, v in sorted(fa.ratio.items()))
        lines.append(f"{fa.name[:58]:58} {fa.judged:>6} {len(fa.alarms):>6}  {per or fa.unavailable or '-'}")
        for a in fa.alarms[:5]:
            where = f"{a.case_id} ({a.dtype}, {', '.join(a.clauses)})"
            lines.append(f"    false alarm: {where} {a.verdict}: {a.message[:150]}")
    lines += ["", "margins (error/bound ratio): the largest any faithful member reaches, the smallest of the "
              "faults' strongest catches"]
    lines.append(f"{'dtype':10} {'faithful max':>12} {'by':40} {'weakest fault':>13} {'by':40} room")
    for mg in result.margins():
        lines.append(f"{mg.dtype:10} {_g(mg.faithful_max):>12} {(mg.faithful_by or '-')[:40]:40} "
                     f"{_g(mg.fault_min):>13} {(mg.fault_by or '-')[:40]:40} {_g(mg.room)}")
    skipped = [f.name for f in result.faults if f.unavailable]
    lines += ["", f"kill rate {result.kill_rate:.0%} ({sum(f.killed for f in result.ran)}/{len(result.ran)} faults "
              f"run{f', {len(skipped)} unavailable' if skipped else ''}), false alarms {result.false_alarms}: "
              f"{'OK' if result.ok else 'NOT OK'}"]
    return "\n".join(lines)
