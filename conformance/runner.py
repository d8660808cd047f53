"""The run: cases -> (reference once, every adapter in its own workers) -> verdicts -> records.

Each adapter lives in worker processes the gate owns (``conformance.workers``); the gate itself
never imports an adapter. Cases are sent to every worker ahead of time and judged as answers
arrive, so the run takes about as long as its slowest adapter; records are written in case order,
so the same seed gives the same results.jsonl apart from timings. The records the verdict is
computed from are the ones held here, in memory -- results.jsonl is checked against them at the
end, so code under test that rewrites the file is caught, not believed.
"""

from __future__ import annotations

import hashlib
import math
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from adapters.base import AdapterInfo, Outcome, Ran, Support, Unsupported

from . import protocol
from .cases import Case
from .clauses import BY_ID
from .compare import ERROR, UNSUPPORTED, Prepared, Verdict, apply_explanation, explanation, judge
from .expected import expected
from .explainer import Explainer
from .records import RESULTS, RecordWriter, dumps, uninterrupted
from .workers import AdapterPool, Answer, Dispatcher, Job, Limits

OUTCOME_BLAME = "the adapter's output breaks the protocol (an adapter bug, not the implementation's nonconformance)"


@dataclass
class AdapterHandle:
    """One adapter: its spec, what its first worker said about it, and what it cost."""

    spec: str
    pool: AdapterPool
    dispatcher: Dispatcher
    cases_run: int = 0
    seconds: float = 0.0  # the implementation's own time: the adapter's run() (construct + steps), in the worker
    framework_seconds: float = 0.0  # the worker's work around it: building each case, converting each outcome

    @property
    def described(self) -> dict[str, Any]:
        return self.pool.described or {"spec": self.spec, "name": self.spec, "available": False,
                                       "reason": "not started"}

    @property
    def name(self) -> str:
        return str(self.described.get("name", self.spec))

    @property
    def available(self) -> bool:
        return bool(self.described.get("available"))

    @property
    def load_error(self) -> bool:
        return bool(self.described.get("load_error"))

    @property
    def compilations(self) -> int | None:
        return self.pool.compilations

    def info(self) -> AdapterInfo | None:
        d = self.described.get("info")
        if not d:
            return None
        return AdapterInfo(d["name"], d["description"], d["versions"], d["device"], tuple(d["dtypes"]),
                           {k: Support(v) for k, v in d["support"].items()}, d["notes"])

    def meta(self) -> dict[str, Any]:
        return {**self.described, "spec": self.spec, "cases_run": self.cases_run, "seconds": round(self.seconds, 3),
                "start_seconds": None if self.pool.start_seconds is None else round(self.pool.start_seconds, 3),
                "worker_framework_seconds": round(self.framework_seconds, 3),
                "compilations": self.compilations, "worker_restarts": self.pool.respawns}


def start(specs: Sequence[str], jobs: int, limits: Limits, log_dir: Path | None,
          token: str) -> tuple[list[AdapterHandle], Dispatcher]:
    """Start one worker per adapter (they load in parallel, while the gate generates cases)."""
    pools = [AdapterPool(s, jobs, limits, log_dir, token, i) for i, s in enumerate(specs)]
    d = Dispatcher(pools)
    for p in pools:
        p.start()
    return [AdapterHandle(p.spec, p, d) for p in pools], d


def wait_described(handles: Sequence[AdapterHandle], idle: Callable[[], bool] | None = None,
                   sends: Submissions | None = None) -> None:
    """Until every adapter's first worker said what it is (or failed to load, within the load timeout).

    ``idle`` is called while nothing has arrived: one small unit of work (``Expectations.step``) that
    returns False when there is none left. With ``sends``, an adapter that is up gets its cases at once
    (``Submissions.send``) and the answers that come back meanwhile are kept for the run loop."""
    if not handles:
        return
    d = handles[0].dispatcher
    more = idle is not None
    while any(h.pool.described is None for h in handles):
        got = d.poll(0.0 if more else 0.1)
        if sends is not None:
            sends.backlog += [a for a in got if a[1] is not None]
            for h in handles:
                if h.pool.described is not None:
                    sends.send(h)
        if more and any(h.pool.described is None for h in handles):
            assert idle is not None
            more = idle()


def run_in_worker(h: AdapterHandle, case: Case, timeout: float) -> Outcome | None:
    """One case on one adapter outside the main run (replay, shrinking, exploring): its validated
    outcome, or None when the worker crashed, hung or broke the protocol (the main run records those)."""
    ans = h.dispatcher.run_one(h.pool, case.to_json(), timeout)
    if ans is None or ans.fault is not None:
        return None
    try:
        return protocol.outcome(ans.wire, case)
    except protocol.OutcomeError:
        return None


def shard_of(case_id: str, n: int) -> int:
    return int(hashlib.sha256(case_id.encode()).hexdigest()[:8], 16) % n


def select_shard(cases: Iterable[Case], shard: tuple[int, int] | None) -> list[Case]:
    if shard is None:
        return list(cases)
    k, n = shard
    return [c for c in cases if shard_of(c.id, n) == k - 1]


def declared_skip(case: Case, info: AdapterInfo) -> str | None:
    """Why the adapter's declaration excludes this case (dtype or clause), or None."""
    if case.dtype not in info.dtypes:
        why = info.notes.get(case.dtype)
        return f"{case.dtype} not among the dtypes it runs ({', '.join(info.dtypes)})" + (f": {why}" if why else "")
    for c in case.clauses:
        if info.support_for(c) is Support.UNSUPPORTED:
            return f"{c} unsupported: {info.notes.get(c, 'declared by the adapter')}"
    return None


def _undigested(e: Exception) -> Verdict:
    """A valid-looking outcome the judge could not digest: an ERROR of that adapter's record only."""
    return Verdict(ERROR, f"{OUTCOME_BLAME}: judging it raised {type(e).__name__}: {str(e)[:200]}",
                   error_kind="protocol")


def record_of(case: Case, h: AdapterHandle, v: Verdict, seconds: float, unsupported_by: str | None = None
              ) -> dict[str, Any]:
    info = h.info()
    emulated = [c for c in case.clauses if info and info.support_for(c) is Support.EMULATED]
    rec = {
        "case_id": case.id, "adapter": h.name, "clauses": list(case.clauses), "family": case.family,
        "dtype": case.dtype, "kind": case.kind, "title": case.title, "verdict": v.verdict,
        "max_abs_err": v.max_abs_err, "max_rel_err": v.max_rel_err, "max_ulp": v.max_ulp, "bound": v.bound,
        "ratio": v.ratio, "worst": v.worst, "message": v.message, "raised": v.raised, "error_kind": v.error_kind,
        "emulated": emulated, "first_failing_step": v.extra.get("first_failing_step"),
        "deviates": v.extra.get("deviates", list(case.clauses) if v.verdict in ("FAIL", ERROR) else []),
        "explained_by": v.extra.get("explained_by"), "seconds": round(seconds, 4),
    }
    if v.verdict == UNSUPPORTED:
        rec["unsupported_by"] = unsupported_by or "outcome"
    if v.extra.get("trace") is not None:
        rec["trace"] = v.extra["trace"]
    return rec


EXPLAINER_PATIENCE = 60.0  # seconds without an answer while explanations are pending: the explainer is given up
PUMP_EVERY = 0.01  # seconds of judging between top-ups of the workers' queues (a worker runs a case in ~2 ms)


class Expectations:
    """Every case's ``Prepared`` expectation (reference trajectory + error-model bounds), made once and
    shared by every adapter's answer -- and made ahead, in time the gate would otherwise spend waiting
    (workers starting, answers not back yet), so judging an answer is only the comparison.

    ``step()`` prepares the next case that still needs it; ``get(i)`` returns case i's, preparing it
    now if idle time did not reach it; ``done(i)`` forgets it once its records are written."""

    def __init__(self, cases: Sequence[Case], ahead: int = 2048) -> None:
        self.cases, self.ahead = cases, ahead
        self.seconds = 0.0  # reference + error model, wherever it was spent
        self.wanted: Callable[[int], bool] = lambda i: True
        self._made: dict[int, Prepared] = {}  # prepared, not yet written
        self._next = 0
        self._floor = 0  # cases below are written: never prepared again

    def _of(self, i: int) -> Prepared:
        p = self._made.get(i)
        if p is None:
            case = self.cases[i]
            p = self._made[i] = Prepared(case, expected(case))
        return p

    def get(self, i: int) -> Prepared:
        t0 = time.perf_counter()
        p = self._of(i).ready()
        self.seconds += time.perf_counter() - t0
        return p

    def step(self) -> bool:
        """Prepare the next case ahead; False when none is left (or the look-ahead is full)."""
        n = len(self.cases)
        self._next = max(self._next, self._floor)
        while self._next < n and not self.wanted(self._next):
            self._next += 1
        if self._next >= min(n, self._floor + self.ahead):
            return False
        t0 = time.perf_counter()
        self._of(self._next).ready()
        self._next += 1
        self.seconds += time.perf_counter() - t0
        return True

    def done(self, i: int) -> None:
        self._made.pop(i, None)
        self._floor = max(self._floor, i + 1)


HEAVY_SHARE = 0.02  # a case of at least this share of a worker's estimated work is spread out (send_order)


def work(case: Case) -> float:
    """A worker's work for ``case``, estimated before it runs: its updates, weighted by the elements
    each touches (a construct case is one unit). Only the order cases are sent in depends on it."""
    elements = sum(math.prod(p.shape) for p in case.params)
    return max(1, case.num_steps) * (1.0 + elements / 4096)


def send_order(cases: Sequence[Case], mine: Sequence[int]) -> list[int]:
    """The order a worker gets its cases in: case order, with the heavy cases (each at least
    ``HEAVY_SHARE`` of the estimated work: the long horizons) spread evenly through it.

    Why: the gate judges, and its explainer explains, each answer as it arrives. Cases kept together
    make the worker spend a second on a few long runs while the gate has nothing to judge, then send
    hundreds of short answers at once that the gate and the explainer are still working through once
    the worker is done. Spread out, each long run gives them the time to catch up with what came before
    it. Records are still written in case order; which worker ran which case changes nothing judged."""
    costs = {ci: work(cases[ci]) for ci in mine}
    total = sum(costs.values())
    heavy = [ci for ci in mine if costs[ci] >= HEAVY_SHARE * total]
    if not heavy:
        return list(mine)
    light = [ci for ci in mine if costs[ci] < HEAVY_SHARE * total]
    out: list[int] = []
    at = 0
    for k, ci in enumerate(heavy, 1):  # the k-th heavy case after k/(H+1) of the light ones
        upto = round(k * len(light) / (len(heavy) + 1))
        out += light[at:upto]
        out.append(ci)
        at = upto
    return out + light[at:]


class Submissions:
    """The requests the run sends: one per case, encoded once and shared by every adapter; sent to an
    adapter as soon as its first worker is up, not when the slowest adapter is; answers that arrive
    before the run loop takes them are kept in ``backlog``."""

    def __init__(self, cases: Sequence[Case], skip: set[tuple[str, str]] | None = None) -> None:
        self.cases, self.skip = cases, skip or set()
        self.backlog: list[tuple[AdapterPool, Answer | None]] = []
        self._jobs: dict[int, Job] = {}
        self._sent: dict[int, list[int]] = {}  # id(pool) -> the case indices sent to it

    def send(self, h: AdapterHandle) -> list[int]:
        """The cases ``h`` runs in a worker (sent now, once): every case not resumed and not decided
        without a worker (``immediate``). Call it once ``h`` is described."""
        key = id(h.pool)
        if key not in self._sent:
            mine = send_order(self.cases, [ci for ci, case in enumerate(self.cases)
                                           if (case.id, h.name) not in self.skip and immediate(case, h) is None])
            for ci in mine:
                if ci not in self._jobs:
                    self._jobs[ci] = Job(ci, self.cases[ci].to_json())
            h.dispatcher.submit(h.pool, [self._jobs[ci] for ci in mine])
            self._sent[key] = mine
        return self._sent[key]

    def take_backlog(self) -> list[tuple[AdapterPool, Answer | None]]:
        out, self.backlog = self.backlog, []
        return out


def immediate(case: Case, h: AdapterHandle) -> Verdict | None:
    """The verdict of a (case, adapter) pair that needs no worker, or None to run it."""
    if h.load_error:
        kind = str(h.described.get("error_kind") or "load")  # "protocol": info() broke the contract
        return Verdict(ERROR, str(h.described.get("reason")), error_kind=kind)
    info = h.info()
    if info is None:
        return Verdict(UNSUPPORTED, str(h.described.get("reason") or "not available"))
    why = declared_skip(case, info)
    return None if why is None else Verdict(UNSUPPORTED, why)


@dataclass
class Timing:
    """Where the gate's own time went (run.json ``timing``)."""

    judge_seconds: float = 0.0  # the comparison of answers with prepared expectations
    prepare_seconds: float = 0.0  # reference + error model (much of it while waiting on workers)
    write_seconds: float = 0.0
    wait_seconds: float = 0.0  # waiting on workers (IPC + the implementations themselves)
    extra: dict[str, float] = field(default_factory=dict)


class Runner:
    """Runs cases over adapter handles; ``on_record`` sees (and may annotate) each record before it is written."""

    def __init__(self, handles: Sequence[AdapterHandle], on_record: Callable[[dict[str, Any], Case], None] | None
                 = None, progress: Callable[[int], None] | None = None, tracer: Callable[..., Any] | None = None,
                 explainer: Explainer | None = None) -> None:
        self.handles, self.on_record, self.progress, self.tracer = list(handles), on_record, progress, tracer
        self.explainer = explainer  # FAILs explained beside the gate (``conformance.explainer``), if given
        self.records: list[dict[str, Any]] = []  # what the verdict is computed from
        self.timing = Timing()

    def _verdict(self, case: Case, exp: Prepared, h: AdapterHandle, ans: Answer, explain: bool = True
                 ) -> tuple[Verdict, Outcome | None]:
        """The verdict of an answer, and the validated outcome it was judged from (None: none was)."""
        if ans.fault is not None:
            return Verdict(ERROR, ans.message, error_kind=ans.fault), None
        try:
            out = protocol.outcome(ans.wire, case)
        except protocol.OutcomeError as e:
            return Verdict(ERROR, f"{OUTCOME_BLAME}: {e}", error_kind="protocol"), None
        if isinstance(out, Unsupported):
            return Verdict(UNSUPPORTED, out.reason), out
        try:
            v = judge(case, exp, out, explain)
        except Exception as e:  # a valid-looking outcome the judge cannot digest: that adapter's record only
            return _undigested(e), out
        if self.tracer is not None and v.verdict == "FAIL" and exp.expected.trajectory is not None:
            try:
                v.extra["trace"] = self.tracer(case, exp.expected, out, v, exp.bounds())
            except Exception:  # a picture is optional; the verdict is not
                pass
        return v, out

    def run(self, cases: Sequence[Case], writer: RecordWriter, skip: set[tuple[str, str]] | None = None,
            expectations: Expectations | None = None, sends: Submissions | None = None) -> None:
        """Every (case, adapter) pair not in ``skip``, its record written in case order. ``expectations``
        and ``sends`` (for ``cases`` and ``skip``) may hold work done while the workers started."""
        skip = skip or set()
        n, m = len(cases), len(self.handles)
        slots: list[list[dict[str, Any] | None]] = [[None] * m for _ in range(n)]
        left = [0] * n
        exps = expectations if expectations is not None else Expectations(cases)
        sends = sends if sends is not None else Submissions(cases, skip)
        assert list(exps.cases) == list(cases) and list(sends.cases) == list(cases) and sends.skip == skip
        exps.wanted = lambda i: left[i] > 0
        index = {id(h.pool): i for i, h in enumerate(self.handles)}
        outstanding = 0
        done_pairs: list[list[bool]] = [[False] * m for _ in range(n)]
        for hi, h in enumerate(self.handles):
            sent = set(sends.send(h))
            outstanding += len(sent)
            for ci, case in enumerate(cases):
                if (case.id, h.name) in skip:
                    done_pairs[ci][hi] = True
                elif ci in sent:
                    left[ci] += 1
                else:
                    v = immediate(case, h)
                    assert v is not None
                    by = "declared" if v.verdict == UNSUPPORTED else None
                    slots[ci][hi] = record_of(case, h, v, 0.0, by)
        d = self.handles[0].dispatcher if self.handles else None
        flushed = 0
        ahead = True
        ex = self.explainer
        waiting: dict[int, tuple[int, int, Verdict, float, Ran]] = {}  # explainer key -> (case, adapter, ...)

        def finish(key: int, found: Any, explained: bool) -> None:
            ci, hi, v, secs, out = waiting.pop(key)
            t1 = time.perf_counter()
            if explained:
                apply_explanation(v, found)
            else:  # the explainer is gone: explain it here, exactly as judge() would have
                try:
                    apply_explanation(v, explanation(exps.get(ci), out))
                except Exception as e:  # as in _verdict: that adapter's record only
                    v = _undigested(e)
            self.timing.judge_seconds += time.perf_counter() - t1
            slots[ci][hi] = record_of(cases[ci], self.handles[hi], v, secs)
            left[ci] -= 1

        heard = [time.monotonic()]  # when the explainer last answered (or was last asked with none pending)

        def collect() -> None:
            if ex is None or not waiting:
                heard[0] = time.monotonic()
                return
            for key, found in ex.poll():
                finish(key, found, True)
                heard[0] = time.monotonic()
            if not ex.broken and time.monotonic() - heard[0] > EXPLAINER_PATIENCE:
                ex.broken = True  # an explanation takes milliseconds: it is stuck; the gate explains the rest
            if ex.broken:
                for key in list(waiting):
                    finish(key, None, False)

        while True:
            collect()
            batch: list[dict[str, Any]] = []
            while flushed < n and left[flushed] == 0:
                batch += self._annotate(cases[flushed], slots[flushed], done_pairs[flushed])
                slots[flushed] = []
                exps.done(flushed)
                flushed += 1
            if batch:
                ahead = True  # the look-ahead window moved on
                t0 = time.perf_counter()
                with uninterrupted():  # on disk, in case order, and counted: both or neither
                    writer.write_many(batch)
                    self.records.extend(batch)
                self.timing.write_seconds += time.perf_counter() - t0
                if self.progress:
                    for _ in batch:
                        self.progress(1)
            if (outstanding == 0 or d is None) and not waiting:
                self.timing.prepare_seconds = exps.seconds
                break
            t0 = time.perf_counter()
            if outstanding == 0 or d is None:  # only explanations to wait for
                assert ex is not None
                ex.wait(0.05)
                answers = []
            else:
                answers = sends.take_backlog() or d.poll(0.0 if ahead else (0.005 if waiting else 0.2))
            self.timing.wait_seconds += time.perf_counter() - t0
            if not answers and ahead:  # nothing back yet: prepare a case ahead instead of waiting
                ahead = exps.step()
            pumped = time.perf_counter()
            for pool, ans in answers:
                if time.perf_counter() - pumped > PUMP_EVERY:  # a long batch: take what is back (which frees
                    sends.backlog += d.poll(0.0)  # queue slots) and keep the workers' queues full
                    pumped = time.perf_counter()
                if ans is None or ans.job.key < 0 or id(pool) not in index:
                    continue
                hi = index[id(pool)]
                h = self.handles[hi]
                ci = ans.job.key
                case = cases[ci]
                prep = exps.get(ci)
                t1 = time.perf_counter()
                v, out = self._verdict(case, prep, h, ans, explain=ex is None or ex.broken)
                self.timing.judge_seconds += time.perf_counter() - t1
                h.cases_run += 1
                h.seconds += ans.seconds
                h.framework_seconds += ans.framework
                outstanding -= 1
                if v.verdict == "FAIL" and "deviates" not in v.extra and ex is not None and not ex.broken \
                        and isinstance(out, Ran) and prep.expected.trajectory is not None \
                        and case.kind != "construct":
                    key = ci * len(self.handles) + hi
                    waiting[key] = (ci, hi, v, ans.seconds, out)
                    if not ex.submit(key, ans.job.frame(), ans.wire):
                        finish(key, None, False)
                    continue
                slots[ci][hi] = record_of(case, h, v, ans.seconds)
                left[ci] -= 1

    def _annotate(self, case: Case, row: list[dict[str, Any] | None], done: list[bool]) -> list[dict[str, Any]]:
        """A finished case's records, in adapter order, annotated (baseline, saved case file)."""
        out = []
        t0 = time.perf_counter()
        for rec, was_done in zip(row, done):
            if was_done:  # resumed: recorded by the earlier run
                if self.progress:
                    self.progress(1)
                continue
            assert rec is not None
            if self.on_record:
                self.on_record(rec, case)
            out.append(rec)
        self.timing.write_seconds += time.perf_counter() - t0
        return out


def environment() -> dict[str, Any]:
    return {"python": platform.python_version(), "platform": platform.platform(), "machine": platform.machine(),
            "hostname": platform.node()}


def check_file(out: Path, records: Sequence[dict[str, Any]]) -> bool:
    """Whether results.jsonl holds exactly the records the gate wrote (nothing rewritten behind its back)."""
    want = "".join(dumps(r) + "\n" for r in records)
    try:
        return (out / RESULTS).read_text(encoding="utf-8") == want
    except (OSError, UnicodeDecodeError):
        return False


def coverage_problems(cases: Sequence[Case], clauses: Sequence[str], dtypes: Sequence[str]) -> list[str]:
    """Each selected clause has a case in each selected dtype (every generated case set has: a set without is
    damaged -- a rewritten case cache, say -- and would let a clause pass unjudged)."""
    held = {(cl, c.dtype) for c in cases for cl in c.clauses}
    missing = [f"{cl} in {d}" for cl in clauses for d in dtypes if (cl, d) not in held]
    if not missing:
        return []
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return [f"the case set has no case of {', '.join(missing[:5])}{more}, so those were never checked (a damaged "
            "case cache? rerun with --no-case-cache)"]


@dataclass(frozen=True)
class Gap:
    """A part of the run an adapter judged nothing of: a clause ``family`` ("" for any) -- or one clause, by
    its ID -- in a ``dtype`` ("" for any). ``problem`` is the line the run reports. Consumers (the pytest plugin)
    scope by these fields, never by parsing ``problem``: its text begins with a name the adapter chose."""

    adapter: str
    family: str
    dtype: str
    problem: str

    def to_dict(self) -> dict[str, str]:
        return {"adapter": self.adapter, "family": self.family, "dtype": self.dtype, "problem": self.problem}


def judged_problems(handles: Sequence[AdapterHandle], cases: Sequence[Case],
                    records: Sequence[dict[str, Any]], selected: Sequence[str] | None = None) -> list[str]:
    """Why the run cannot be green although no verdict is bad: no case at all, or adapters that judged nothing.

    Every available adapter must judge at least one case of every clause family in every declared dtype
    for which the run had a case its declaration admits (dtype declared, no clause declared
    unsupported); an adapter that declines every such case at run time (Unsupported outcomes) judged
    nothing there. A dtype it cannot run is declared away, and reports say so. One line per adapter and
    family, or dtype, declined wholesale; one per (family, dtype) declined where both are judged; one per
    (selected clause, dtype) declined where its family and dtype are judged: a case counts for every
    clause it carries (``judged_gaps`` gives those lines with their scope)."""
    if not cases:  # an empty shard, a case set that came back empty: no verdict was computed at all
        from .compat import NOTHING_JUDGED

        return [NOTHING_JUDGED]
    return [g.problem for g in judged_gaps(handles, cases, records, selected)]


class Seen(NamedTuple):
    """What the judged-nothing rule needs of one case: from a Case (``judged_gaps``) or from its records
    (``gaps_from_records``, for a merge of shards, where the cases are gone)."""

    id: str
    clauses: tuple[str, ...]
    dtype: str
    family: str


def _clause_family(clause: str) -> str:
    return BY_ID[clause].family if clause in BY_ID else clause.split("-")[0]


def _family(clauses: Sequence[str], fallback: str) -> str:
    return BY_ID[clauses[0]].family if clauses and clauses[0] in BY_ID else fallback


def judged_gaps(handles: Sequence[AdapterHandle], cases: Sequence[Case],
                records: Sequence[dict[str, Any]], selected: Sequence[str] | None = None) -> list[Gap]:
    """``judged_problems``' lines for adapters that ran, each with the family and dtype it is about.

    ``selected``: the clauses the run was asked for (else the cases' first clauses). A corpus case that
    carries a selected clause may lead with another; that other clause is not owed a judged case."""
    judged: dict[str, set[str]] = {}
    for r in records:
        if r["verdict"] != UNSUPPORTED:
            judged.setdefault(r["adapter"], set()).add(r["case_id"])
    about = set(selected) if selected is not None else {c.clauses[0] for c in cases}
    gaps: list[Gap] = []
    for h in handles:
        info = h.info()
        if info is not None:
            admitted = [Seen(c.id, tuple(c.clauses), c.dtype, _family(c.clauses, c.family)) for c in cases
                        if declared_skip(c, info) is None]
            gaps += adapter_gaps(h.name, info.dtypes, admitted, judged.get(h.name, set()), about, bool(cases))
    return gaps


def gaps_from_records(records: Sequence[dict[str, Any]], declared: dict[str, Sequence[str]],
                      selected: Sequence[str] | None = None) -> list[Gap]:
    """``judged_gaps`` over the records of a run (a merge of its shards): ``declared`` maps each adapter
    that ran to its declared dtypes; a record UNSUPPORTED by declaration is a case it did not admit."""
    about = set(selected) if selected is not None else {r["clauses"][0] for r in records if r.get("clauses")}
    gaps: list[Gap] = []
    for name, dtypes in declared.items():
        mine = [r for r in records if r["adapter"] == name]
        admitted = [Seen(r["case_id"], tuple(r["clauses"]), r["dtype"], _family(r["clauses"], r.get("family", "")))
                    for r in mine if not (r["verdict"] == UNSUPPORTED and r.get("unsupported_by") == "declared")]
        judged = {r["case_id"] for r in mine if r["verdict"] != UNSUPPORTED}
        gaps += adapter_gaps(name, tuple(dtypes), admitted, judged, about, bool(records))
    return gaps


def adapter_gaps(name: str, dtypes: Sequence[str], admitted_cases: Sequence[Seen], mine: set[str],
                 about: set[str], any_cases: bool) -> list[Gap]:
    """What one adapter judged nothing of, among the cases its declaration admits (``mine``: the IDs it
    judged; ``about``: the clauses the run is about)."""
    if not dtypes:
        return [Gap(name, "", "", f"{name}: declares no dtypes, so nothing was judged")]
    if any_cases and not admitted_cases:
        return [Gap(name, "", "", f"{name}: its declaration (dtypes {', '.join(dtypes)}, unsupported clauses) "
                    "admits none of this run's cases, so nothing was judged")]
    gaps: list[Gap] = []
    admitted: dict[str, list[Seen]] = {}
    by_dtype: dict[str, list[Seen]] = {}
    families = {_clause_family(cl) for cl in about}  # a family is owed a judged case if a selected clause is in it
    for c in admitted_cases:
        if c.family in families:
            admitted.setdefault(c.family, []).append(c)
        by_dtype.setdefault(c.dtype, []).append(c)
    unjudged_fams = {fam for fam, cs in admitted.items() if not any(c.id in mine for c in cs)}
    unjudged_dtypes = {dt for dt, cs in by_dtype.items() if not any(c.id in mine for c in cs)}
    for fam in sorted(unjudged_fams):
        gaps.append(Gap(name, fam, "", f"{name}: judged no {fam} case ({len(admitted[fam])} admitted by its "
                        "declaration were all declined at run time)"))
    for dt in (d for d in dtypes if d in unjudged_dtypes):  # a declared dtype declined wholesale
        gaps.append(Gap(name, "", dt, f"{name}: judged no {dt} case ({len(by_dtype[dt])} admitted by its "
                        f"declaration were all declined at run time; if it cannot run {dt}, it must not "
                        "declare it)"))
    for fam, cs in sorted(admitted.items()):  # a family it judges, but not in every dtype it judges
        if fam in unjudged_fams:
            continue
        for dt in (d for d in dtypes if d in by_dtype and d not in unjudged_dtypes):
            mine_here = [c for c in cs if c.dtype == dt]
            if mine_here and not any(c.id in mine for c in mine_here):
                gaps.append(Gap(name, fam, dt, f"{name}: judged no {fam} case in {dt} ({len(mine_here)} "
                                "admitted by its declaration were all declined at run time)"))
    wide = {(g.family, g.dtype) for g in gaps}
    # every clause the run is about (a case's first clause), in each dtype: judged by any case that
    # carries it, first or not
    per_clause: dict[tuple[str, str], list[Seen]] = {}
    for c in admitted_cases:
        for cl in dict.fromkeys(c.clauses):
            if cl in about:
                per_clause.setdefault((cl, c.dtype), []).append(c)
    for (cl, dt), cs in sorted(per_clause.items()):  # a clause it never judged where its family is judged
        fam = _clause_family(cl)
        if dt not in dtypes or {(fam, ""), ("", dt), (fam, dt)} & wide or any(c.id in mine for c in cs):
            continue
        gaps.append(Gap(name, cl, dt, f"{name}: judged no {cl} case in {dt} ({len(cs)} admitted by its "
                        f"declaration were all declined at run time; if it cannot do {cl}, it must declare it "
                        "unsupported)"))
    return gaps
