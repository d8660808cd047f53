"""The gate inside a user's own test run: ``pytest --adam-adapter torch:pkg.mod:MyAdam``.

Why a plugin: a project that already gates its merges on pytest can gate its optimizer the same way,
with the reporting it already has (``-k``, ``-x``, ``--junitxml``, xdist, CI annotations), instead of a
second tool with its own exit code. Nothing here judges anything: each adapter is run once through
:func:`conformance.gate.run` (workers in their own processes, so the code under test never runs in
the pytest process) and its records are sorted into one test item per adapter x clause x dtype.

An item's outcome, from the records that count under it (a FAIL/ERROR/XFAIL record under the clauses it
is charged to -- the case's own clauses if none of those is selected --, a PASS under all its case's):

- ``failed``: the adapter could not be run or judged nothing of the clause's family, of the dtype, or of
  the family in that dtype (the gate's problem line), or a record failed (the worst case's diagnosis and
  its replay command), or a baseline entry covering the item waived nothing in the run
  (``[XPASS(strict)]``, the gate's XPASS);
- ``xfailed``: every failure under it is a known deviation of the baseline;
- ``skipped``: the adapter declined every case of it (UNSUPPORTED), or the adapter cannot run here and
  ``--adam-allow-unavailable`` was given;
- ``passed`` otherwise.

A session in which no requested adapter could run here fails (exit 1, "nothing was judged"), as the gate does.

So the pytest session is green exactly when the gate run on the same selection is. Without
``--adam-adapter`` the plugin adds nothing and changes nothing (it is installed wherever the package is).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from .errors import EXIT_INTERRUPTED, ConformanceError, UsageError

ITEM = "adam"  # item names: adam[SPEC-CLAUSE-DTYPE]
SUITE = "adam-conformance"  # the collector that holds them (and the junit classname)
MARK = "adam_conformance"
BAD = ("FAIL", "ERROR", "XPASS")
CHARGED = (*BAD, "XFAIL")  # verdicts that count under the clauses they are charged to
SHOWN = 5  # failing cases listed besides the worst


# ---- options ---------------------------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("adam-conformance", "Adam spec conformance (adam-conformance; docs/pytest-plugin.md)")
    g.addoption("--adam-adapter", action="append", default=[], metavar="SPEC",
                help="adapter to gate, e.g. torch:pkg.mod:MyAdam (repeatable); without it the plugin is off")
    g.addoption("--adam-baseline", default=None, metavar="FILE",
                help="known deviations (TOML): their items xfail, strictly (an entry that passes now fails)")
    g.addoption("--adam-clauses", default=None, metavar="PATTERNS",
                help="clause IDs or globs, comma-separated (default: every clause)")
    g.addoption("--adam-dtypes", default=None, metavar="DTYPES",
                help="dtypes, comma-separated (default: float64,float32,float16,bfloat16)")
    g.addoption("--adam-seed", type=int, default=0, metavar="N", help="case seed (default 0)")
    g.addoption("--adam-max-examples", type=int, default=6, metavar="N",
                help="generated cases per clause and dtype (default 6)")
    g.addoption("--adam-out", default=None, metavar="DIR",
                help="where the gate writes records, reports and failing cases (default reports/adam-conformance "
                     "under the rootdir; one subdirectory per adapter)")
    g.addoption("--adam-jobs", type=int, default=1, metavar="N", help="worker processes per adapter (default 1)")
    g.addoption("--adam-allow-unavailable", action="store_true", default=False,
                help="skip (instead of fail) the items of an adapter that cannot run here")


def _given(config: pytest.Config) -> list[str]:
    """The adam options given without --adam-adapter (they do nothing)."""
    defaults = {"adam_baseline": None, "adam_clauses": None, "adam_dtypes": None, "adam_seed": 0,
                "adam_max_examples": 6, "adam_out": None, "adam_jobs": 1, "adam_allow_unavailable": False}
    return ["--" + k.replace("_", "-") for k, v in defaults.items() if config.getoption(k) != v]


@dataclass(frozen=True)
class Options:
    adapters: tuple[str, ...]
    clauses: tuple[str, ...]
    dtypes: tuple[str, ...]
    out: Path
    baseline: Path | None
    seed: int
    max_examples: int
    jobs: int
    allow_unavailable: bool


def read_options(config: pytest.Config) -> Options:
    """The options checked as the gate checks them (before any work); a mistake is a pytest usage error.

    Each adapter's run is planned in the directory it will have (``--adam-out``/<adapter>), so a second
    session finds its own earlier runs there, not a directory of foreign files."""
    from . import gate

    specs = tuple(dict.fromkeys(config.getoption("adam_adapter")))
    try:
        out, baseline = config.getoption("adam_out"), config.getoption("adam_baseline")
        for flag, v in (("--adam-out", out), ("--adam-baseline", baseline)):
            if v is not None and not str(v).strip():
                raise UsageError(f"{flag} is empty: give a path (an empty path is never the working directory)")
        out_dir = Path(out).resolve() if out is not None else config.rootpath / "reports" / "adam-conformance"
        baseline = str(Path(baseline).resolve()) if baseline else None  # xdist workers may not share the cwd
        cfg = gate.RunConfig(adapters=specs, out=out_dir, seed=config.getoption("adam_seed"),
                             max_examples=config.getoption("adam_max_examples"),
                             clauses=config.getoption("adam_clauses"), dtypes=config.getoption("adam_dtypes"),
                             baseline=baseline, jobs=config.getoption("adam_jobs"))
        if out_dir.exists() and not out_dir.is_dir():
            raise UsageError(f"--adam-out {out_dir} is a file, not a directory")
        planned = [gate.plan(replace(cfg, adapters=[spec], out=out_dir / slug)) for spec, slug in slugs(specs).items()]
    except (ConformanceError, ValueError) as e:
        raise pytest.UsageError(f"adam-conformance: {as_plugin_flags(str(e))}") from None
    first = planned[0]
    return Options(specs, first.clauses, first.dtypes, out_dir, Path(baseline) if baseline else None, first.seed,
                   cfg.max_examples, cfg.jobs, bool(config.getoption("adam_allow_unavailable")))


def slugs(specs: Iterable[str]) -> dict[str, str]:
    """Each adapter's subdirectory name under --adam-out (distinct even where two specs slug alike)."""
    out: dict[str, str] = {}
    for spec in specs:
        s = _slug(spec)
        while s in out.values():
            s += "_"
        out[spec] = s
    return out


FLAGS = re.compile(r"(?<![\w-])--(adapter|baseline|clauses|dtypes|seed|max-examples|out|jobs|allow-unavailable)\b")


def as_plugin_flags(message: str) -> str:
    """The gate's messages name its CLI flags; here the user typed the plugin's (--clauses -> --adam-clauses)."""
    return FLAGS.sub(r"--adam-\1", message)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK}: an item of the adam-conformance gate (adapter x clause x dtype)")
    if not config.getoption("adam_adapter", default=None):
        stray = _given(config)
        if stray:  # a warning, not an error: addopts may hold them for runs that do pass --adam-adapter
            config.issue_config_time_warning(pytest.PytestConfigWarning(
                f"adam-conformance: {', '.join(stray)} given without --adam-adapter: the gate does not run"), 2)
        return
    config.pluginmanager.register(Plugin(config, read_options(config)), "adam-conformance-gate")


# ---- which records count under which item ------------------------------------------------------------

Key = tuple[str, str]  # (clause, dtype) of one adapter


def assign(records: Iterable[Any], keys: Iterable[Key]) -> dict[Key, list[Any]]:
    """Records per selected (clause, dtype): a FAIL/ERROR/XFAIL/XPASS under its charged clauses, anything
    else under all its case's clauses. A failure charged only to unselected clauses counts under the
    case's own selected clauses, so no failure of the run is left without an item."""
    out: dict[Key, list[Any]] = {k: [] for k in keys}
    for r in records:
        targets = r.charged if r.verdict in CHARGED else r.clauses
        hits = [(c, r.dtype) for c in targets if (c, r.dtype) in out]
        if not hits and r.verdict in CHARGED:
            hits = [(c, r.dtype) for c in r.clauses if (c, r.dtype) in out]
        for k in dict.fromkeys(hits):
            out[k].append(r)
    return out


def covers(entry: Any, adapter: str, key: Key, records: Sequence[Any]) -> bool:
    """Whether a baseline entry speaks about this item: its adapter glob, dtypes, and clause globs (or
    its one case among the item's records)."""
    clause, dtype = key
    if not fnmatchcase(adapter, entry.adapter) or (entry.dtypes and dtype not in entry.dtypes):
        return False
    if entry.case is not None:
        return any(r.case_id == entry.case for r in records)
    return any(fnmatchcase(clause, p) for p in entry.clauses)


def _ratio(r: Any) -> float:
    x = r.ratio
    if isinstance(x, str):
        try:
            x = float(x)
        except ValueError:
            return math.inf
    if x is None:
        return 0.0
    return math.inf if math.isnan(x) else float(x)


def worst_first(records: Iterable[Any]) -> list[Any]:
    """Failing records, the worst first: an ERROR (no number can be trusted) before a FAIL, then by error
    ratio, then by case ID (same seed, same order)."""
    return sorted(records, key=lambda r: (r.verdict != "ERROR", -_ratio(r), r.case_id))


def _times(r: Any) -> str:
    x = _ratio(r)
    return f" (error {x:.3g}x the bound)" if x > 0 and r.verdict != "ERROR" else ""


def diagnosis(key: Key, records: Sequence[Any], bad: Sequence[Any]) -> str:
    clause, dtype = key
    ordered = worst_first(bad)
    w = ordered[0]
    counts = ", ".join(f"{v} {sum(r.verdict == v for r in bad)}" for v in BAD if any(r.verdict == v for r in bad))
    lines = [f"{clause} in {dtype}: {len(bad)} of {len(records)} case(s) fail ({counts})",
             f"worst: {w.case_id} {w.verdict}{_times(w)}: {w.message}"]
    if w.replay:
        lines.append(f"replay: {w.replay}")
    others = ordered[1:]
    if others:
        shown = ", ".join(f"{r.case_id} {r.verdict}{'' if r.verdict == 'ERROR' else f' x{_ratio(r):.3g}'}"
                          for r in others[:SHOWN])
        more = f" and {len(others) - SHOWN} more" if len(others) > SHOWN else ""
        lines.append(f"also failing: {shown}{more}")
    return "\n".join(lines)


def in_scope(scope: tuple[str, str], key: Key) -> bool:
    """Whether a gap's (family or clause, dtype) scope, "" for any, is about the item ``key``."""
    from .clauses import BY_ID

    f, d = scope
    clause, dtype = key
    return f in ("", BY_ID[clause].family if clause in BY_ID else "", clause) and d in ("", dtype)


@dataclass(frozen=True)
class Outcome:
    """What an item reports: ``passed``, ``failed``, ``xfailed`` or ``skipped``, and why."""

    kind: str
    message: str = ""
    replay: str | None = None


@dataclass
class AdapterRun:
    """One gate run for one adapter, read into what the items need."""

    spec: str
    name: str
    out: Path
    by_key: dict[Key, list[Any]]
    wide: list[str]  # problems that fail every item of the adapter
    scoped: dict[tuple[str, str], str]  # (family, dtype), "" for any -> "judged no ... case" problem
    xpass: list[Any]  # baseline entries that waived nothing in the run
    unavailable: bool
    allow_unavailable: bool
    summary: str = ""
    warnings: list[str] = field(default_factory=list)

    def outcome(self, key: Key) -> Outcome:
        records = self.by_key.get(key, [])
        if self.unavailable and self.allow_unavailable:
            why = "; ".join(re.sub(r" \(it was requested;[^)]*\)$", "", w) for w in self.wide)
            return Outcome("skipped", why or f"{self.spec} cannot run here")
        lines = list(self.wide)
        lines += [p for scope, p in self.scoped.items() if in_scope(scope, key)]
        bad = [r for r in records if r.verdict in BAD]
        if bad:
            lines.append(diagnosis(key, records, bad))
        if lines:
            replay = next((r.replay for r in worst_first(bad) if r.replay), None)
            return Outcome("failed", "\n".join(lines), replay)
        stale = [e for e in self.xpass if covers(e, self.name, key, records)]
        if stale:
            e = stale[0]
            return Outcome("failed", f"[XPASS(strict)] {e.label()} ({e.reason}) expects {key[0]} in {key[1]} to "
                                     f"fail, but no case it covers fails now: delete or narrow the entry")
        waived = [r for r in records if r.verdict == "XFAIL"]
        if waived:
            w = worst_first(waived)[0]
            return Outcome("xfailed", f"{len(waived)} of {len(records)} case(s) are known deviations: {w.baseline}"
                                      f"{_times(w)}: {w.message}")
        if not records:
            return Outcome("skipped", f"no case of {key[0]} in {key[1]} in this run")
        if all(r.verdict == "UNSUPPORTED" for r in records):
            why = sorted({f"{r.unsupported_by or 'declined'}: {r.message}" if r.message else
                          str(r.unsupported_by or "declined") for r in records})
            return Outcome("skipped", f"UNSUPPORTED by {self.spec}: {'; '.join(why)[:300]}")
        return Outcome("passed")


def read_run(spec: str, result: Any, keys: Iterable[Key], baseline: Path | None, allow_unavailable: bool
             ) -> AdapterRun:
    """A RunResult of one adapter as items see it."""
    keys = list(keys)
    adapters = result.meta.get("adapters") or []
    name = str(adapters[0].get("name", spec)) if adapters else spec
    scoped: dict[tuple[str, str], str] = {}
    wide: list[str] = []
    # what an adapter judged nothing of (runner.judged_gaps) fails the items of that family, that dtype, or
    # both, read from the gap's fields: never from its text, which begins with a name the adapter chose
    gaps = list(getattr(result, "gaps", []) or [])
    for g in gaps:
        scope = (g.family, g.dtype)
        scoped[scope] = "\n".join(x for x in (scoped.get(scope), as_plugin_flags(g.problem)) if x)
    from_baseline = set(result.baseline_problems)  # decided per item from the records instead
    from_gaps = {g.problem for g in gaps}
    wide = [as_plugin_flags(p) for p in result.problems if p not in from_baseline and p not in from_gaps]
    xpass: list[Any] = []
    entries: list[Any] = []
    if baseline is not None:
        from . import baseline as bl

        entries = bl.load(baseline)
        bl.recount(entries, [r.to_dict() for r in result.records])
        xpass = [e for e in entries if e.matched and not e.failed and not e.unwaived and not e.uncovered
                 and bl.about_selected(e, result.meta.get("clauses"))]
    warnings = list(result.warnings)
    if baseline is not None:  # each adapter runs alone: another adapter's entries match nothing here, rightly
        others = tuple(f"{e.label()} matches no case" for e in entries if not fnmatchcase(name, e.adapter))
        warnings = [w for w in warnings if not w.startswith(others)] if others else warnings
    by_key = assign(result.records, keys)
    owned = {id(r) for rs in by_key.values() for r in rs}
    orphans = [r for r in result.records if r.verdict in BAD and id(r) not in owned]
    if orphans:  # -k/-m picked items that are not a clauses x dtypes grid: the gate judged the whole grid
        where = ", ".join(sorted({f"{','.join(r.charged or r.clauses)} in {r.dtype}" for r in orphans}))
        wide.append(f"{spec}: the gate run for the selected items also judged {len(orphans)} failing case(s) that "
                    f"no selected item owns ({where[:300]}); the run is not green: select those items too, or "
                    "run without -k/-m")
    unowned = [p for scope, p in scoped.items() if not any(in_scope(scope, k) for k in keys)]
    if unowned:  # a gap in a cell no selected item owns (-k/-m) would fail no item
        wide.append(f"{spec}: the gate run for the selected items found what it judged nothing of where no selected "
                    f"item looks: {'; '.join(unowned)[:400]}; the run is not green: select those items too, or run "
                    "without -k/-m")
    stale = [e for e in xpass if not any(covers(e, name, k, by_key.get(k, [])) for k in keys)]
    if stale:  # an entry that waived nothing, about clauses or cases no selected item has
        wide.append(f"{spec}: [XPASS(strict)] {', '.join(e.label() for e in stale)[:300]} waived nothing in this "
                    "run, and no selected item is about it: delete or narrow the entry")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts().items()))
    wall = result.meta.get("wall_seconds")
    summary = f"{spec}: {counts or 'no records'} in {wall} s; reports in {result.out}"
    return AdapterRun(spec, name, Path(result.out), by_key, wide, scoped, xpass,
                      not adapters, allow_unavailable, summary, warnings)


# ---- collection and running ----------------------------------------------------------------------------

def _slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", spec).strip("_") or "adapter"


class Suite(pytest.Collector):
    """The collector holding every adam item (no file: the items come from the options)."""

    def collect(self) -> list[pytest.Item]:
        plugin: Plugin = self.config.pluginmanager.get_plugin("adam-conformance-gate")
        o = plugin.options
        return [AdamItem.from_parent(self, name=f"{ITEM}[{spec}-{clause}-{dtype}]", spec=spec, clause=clause,
                                     dtype=dtype)
                for spec in o.adapters for clause in o.clauses for dtype in o.dtypes]


class AdamItem(pytest.Item):
    """One adapter x clause x dtype; its outcome comes from the adapter's gate run (started on first need)."""

    def __init__(self, *, spec: str, clause: str, dtype: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.spec, self.clause, self.dtype = spec, clause, dtype
        self.add_marker(MARK)

    def runtest(self) -> None:
        plugin: Plugin = self.config.pluginmanager.get_plugin("adam-conformance-gate")
        run = plugin.run_for(self)
        self.user_properties.append(("adam_reports", str(run.out)))
        o = run.outcome((self.clause, self.dtype))
        if o.replay:
            self.user_properties.append(("adam_replay", o.replay))
        if o.kind == "failed":
            pytest.fail(o.message, pytrace=False)
        if o.kind == "xfailed":
            pytest.xfail(o.message)
        if o.kind == "skipped":  # reported at the item, not at this line
            raise pytest.skip.Exception(o.message, _use_item_location=True)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.config.rootpath / SUITE, 0, self.name  # no file: the suite's name stands for it


SESSION_FILE = "pytest-session"  # in a run's directory: the xdist test run that made it


@contextmanager
def shared_run(cfg: Any, run_uid: str | None) -> Iterator[tuple[Any, Any]]:
    """(the config to run, or the finished RunResult of this test session's run to reuse).

    Outside xdist: run it. Under xdist: hold the adapter's lock file while running, so exactly one
    worker runs each adapter and the others read what it wrote; where file locks do not exist
    (Windows), each worker runs in a directory of its own instead -- the same verdicts, more work."""
    if run_uid is None:
        yield cfg, None
        return
    out = Path(cfg.out)
    try:
        import fcntl
    except ImportError:  # pragma: no cover -- Windows
        worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
        yield replace(cfg, out=out.parent / worker / out.name), None
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            made_by = out / SESSION_FILE
            if made_by.is_file() and made_by.read_text(encoding="utf-8") == run_uid:
                yield cfg, read_result(out)
            else:
                made_by.unlink(missing_ok=True)
                yield cfg, None
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_result(out: Path) -> Any:
    """A finished run read back from its directory (run.json and results.jsonl), as gate.run returned it."""
    import json

    from .gate import RunResult
    from .model import Record
    from .records import META, RESULTS, read_records

    meta = json.loads((out / META).read_text(encoding="utf-8"))
    from .runner import Gap

    g = meta.get("gate", {})
    gaps = [Gap(str(x["adapter"]), str(x["family"]), str(x["dtype"]), str(x["problem"])) for x in g.get("gaps", [])]
    return RunResult(int(g.get("exit_code", 1)), [Record.from_dict(r) for r in read_records(out / RESULTS)], meta,
                     out, list(g.get("problems", [])), list(g.get("warnings", [])),
                     list(g.get("baseline_problems", [])), gaps)


class GateCrashed(Exception):
    """The gate itself raised (a bug in adam-conformance, not in the code under test)."""


class Plugin:
    """Holds the options and each adapter's run (one per process; per xdist worker under xdist)."""

    def __init__(self, config: pytest.Config, options: Options) -> None:
        self.config = config
        self.options = options
        self.runs: dict[str, AdapterRun | BaseException] = {}
        self.lines: list[str] = []  # run summaries and warnings, gathered from reports (xdist: from workers)
        self.judged: dict[str, bool] = {}  # spec -> whether its run could run here (from the reports too)
        # Under xdist every worker shares one run per adapter: the first to need it runs it, the others
        # wait for it and read its records (the run's ID says a results directory is this session's).
        self.run_uid: str | None = getattr(config, "workerinput", {}).get("testrunuid")

    @pytest.hookimpl(tryfirst=True)  # before -k/-m deselect, so they select among these items too
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        suite = Suite.from_parent(session, name=SUITE, nodeid=SUITE)
        mine = suite.collect()
        # Reported as a collection so the terminal counts them ("collected N items") and -x/--lf see them.
        session.ihook.pytest_collectreport(report=pytest.CollectReport(SUITE, "passed", None, mine))
        items.extend(mine)

    def run_for(self, item: AdamItem) -> AdapterRun:
        got = self.runs.get(item.spec)
        if got is None:
            got = self._run(item)
        if isinstance(got, BaseException):
            if isinstance(got, ConformanceError):
                pytest.fail(f"adam-conformance: {as_plugin_flags(str(got))}", pytrace=False)
            pytest.fail(f"adam-conformance: the gate run for {item.spec} crashed (see the first item that ran it): "
                        f"{got!r}", pytrace=False)
        return got

    def _run(self, item: AdamItem) -> AdapterRun | BaseException:
        from . import gate

        o = self.options
        mine = [it for it in item.session.items if isinstance(it, AdamItem) and it.spec == item.spec]
        keys = [(it.clause, it.dtype) for it in mine]
        cfg = gate.RunConfig(adapters=[item.spec], out=o.out / self._slugs()[item.spec], seed=o.seed,
                             max_examples=o.max_examples, clauses=tuple(dict.fromkeys(c for c, _ in keys)),
                             dtypes=tuple(dict.fromkeys(d for _, d in keys)), baseline=o.baseline, jobs=o.jobs)
        try:
            with shared_run(cfg, self.run_uid) as (cfg, previous):
                ran_here = previous is None
                result = previous or gate.run(cfg)
                if result.exit_code == EXIT_INTERRUPTED:
                    raise KeyboardInterrupt
                if ran_here and self.run_uid:
                    (Path(cfg.out) / SESSION_FILE).write_text(self.run_uid, encoding="utf-8")
            got: AdapterRun | BaseException = read_run(item.spec, result, keys, o.baseline, o.allow_unavailable)
        except ConformanceError as e:
            got = e
        except Exception as e:
            self.runs[item.spec] = GateCrashed(repr(e))
            raise
        self.runs[item.spec] = got
        if isinstance(got, AdapterRun):
            item.user_properties.append(("adam_judged", (item.spec, not got.unavailable)))
        if isinstance(got, AdapterRun) and ran_here:
            item.user_properties.append(("adam_run", got.summary))
            item.user_properties.extend(("adam_warning", w) for w in got.warnings)
        return got

    def _slugs(self) -> dict[str, str]:
        return slugs(self.options.adapters)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for k, v in getattr(report, "user_properties", ()):
            if k == "adam_judged":  # under xdist too: the reports reach the controller
                spec, available = v
                self.judged[spec] = self.judged.get(spec, False) or bool(available)
            elif k == "adam_run":
                self.lines.append(str(v))
            elif k == "adam_warning":
                self.lines.append(f"warning: {v}")

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Every adapter that ran could not run here: nothing was judged, which the gate never calls green."""
        if self.judged and not any(self.judged.values()) and exitstatus == pytest.ExitCode.OK:
            self.lines.append(f"nothing was judged: {', '.join(self.judged)} cannot run here (--adam-allow-unavailable "
                              "skips an adapter that cannot run, but a session with none that can is not green)")
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.lines:
            terminalreporter.section("adam-conformance")
            for line in dict.fromkeys(self.lines):
                terminalreporter.write_line(line)
