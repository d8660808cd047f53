"""The subcommands behind ``adam-conformance`` (argument parsing lives in ``cli``)."""

from __future__ import annotations

import argparse
import json
import shutil
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .cases import CaseFormatError, load
from .clauses import CLAUSES
from .errors import EXIT_INTERRUPTED, EXIT_NONCONFORMANT, EXIT_OK, OutputPathError, UsageError
from .records import META, RESULTS, RecordWriter, atomic_write, write_json

# Wide enough for the clause x adapter table when output goes to a file or a CI log.
# emoji=False: an adapter spec such as torch:x:BadAdam must print as typed, not with ":x:" turned into an emoji
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200, emoji=False)
out = Console(width=None if sys.stdout.isatty() else 200, emoji=False)


# ---- clauses / list --------------------------------------------------------------------------------

def cmd_clauses(args: argparse.Namespace) -> int:
    if args.format == "json":
        print(json.dumps([c._asdict() for c in CLAUSES], indent=1))
        return EXIT_OK
    if args.format == "md":
        print("| ID | family | clause | seed sentence | interpretation |\n|---|---|---|---|---|")
        for c in CLAUSES:
            print(f"| {c.id} | {c.family} | {c.title} | {c.seed} | {c.notes} |")
        return EXIT_OK
    t = Table("ID", "clause", "seed sentence", "interpretation", title="mindspore.nn.Adam clause catalog",
              show_lines=True)
    for c in CLAUSES:
        t.add_row(c.id, c.title, c.seed, c.notes)
    out.print(t)
    return EXIT_OK


def _check_spec(spec: str) -> None:
    from .gate import _check_adapter_specs

    _check_adapter_specs([spec])


def _backend_installed(spec: str) -> str | None:
    """Why a built-in cannot run here, judged without importing its backend (None: it may run)."""
    import importlib.util
    import os

    need = {"torch": "torch", "mindspore": "mindspore", "optax": "optax"}
    for prefix, module in need.items():
        if spec.startswith(prefix) and importlib.util.find_spec(module) is None:
            return f"{module} is not installed"
    if ("cuda" in spec or "gpu" in spec) and not (os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi")):
        return "no CUDA device on this machine (no /dev/nvidia0, no nvidia-smi)"
    return None


def _short(message: str, width: int = 160) -> str:
    """A terminal line's share of a message; the cut is marked (the whole message is in the records)."""
    return message if len(message) <= width else message[:width - 3].rstrip() + "..."


def cmd_list(args: argparse.Namespace) -> int:
    """Names at once, without importing any backend; ``--details`` (or ``--adapter``) asks the workers."""
    from . import gate, runner
    from .workers import Limits, new_token

    for s in args.adapter:
        _check_spec(s)
    from . import registry

    installed = registry.plugins()  # entry points, read from metadata: nothing imported
    specs = list(dict.fromkeys([*registry.names(), *args.adapter]))
    if not (args.details or args.adapter):
        t = Table("adapter", "runs here", title="adapters (`list --details` loads each in a worker and shows what "
                                                "it declares)")
        for spec in specs:
            if spec in installed and spec not in gate._all_builtins():
                t.add_row(escape(spec), escape(f"plugin {installed[spec]} (`list --details` loads it)"))
                continue
            why = _backend_installed(spec)
            t.add_row(escape(spec), "no: " + escape(why) if why else "yes")
        out.print(t)
        return EXIT_OK
    wanted = list(dict.fromkeys(args.adapter)) if args.adapter and not args.details else specs
    token = new_token()
    err.print(escape(f"loading {len(wanted)} adapter(s), each in a worker of its own (importing a backend takes "
                     "seconds) ..."))
    handles, dispatcher = runner.start(wanted, 1, Limits(load_timeout=args.load_timeout), None, token)
    try:
        runner.wait_described(handles)
    finally:
        dispatcher.close(token)
    t = Table("adapter", "runs here", "device", "dtypes", "emulated", "unsupported", title="adapters")
    for h in handles:
        if not h.available:
            t.add_row(escape(safe_text(h.name)), escape(safe_text(f"no: {h.described.get('reason')}")), "", "", "", "")
            continue
        info = h.info()
        assert info is not None
        emu = ", ".join(k for k, v in info.support.items() if v == "emulated")
        uns = ", ".join(k for k, v in info.support.items() if v == "unsupported")
        t.add_row(escape(safe_text(h.name)), "yes", escape(safe_text(info.device)), ", ".join(info.dtypes), emu, uns)
    out.print(t)
    # An adapter asked for by name is a question ("can this run here?"): no is exit 1, like a run of it.
    missing = [h.name for h in handles if not h.available and h.name in args.adapter]
    if missing:
        err.print(escape(safe_text(f"not available here: {', '.join(missing)} (see the table for why)")))
        return EXIT_NONCONFORMANT
    return EXIT_OK


# ---- run -------------------------------------------------------------------------------------------

def config_from_args(args: argparse.Namespace) -> Any:
    from .gate import RunConfig

    return RunConfig(adapters=tuple(args.adapter), out=args.out, seed=args.seed, max_examples=args.max_examples,
                     clauses=args.clauses, dtypes=args.dtypes, timeout=args.timeout,
                     load_timeout=args.load_timeout,
                     memory_limit_mb=args.memory_limit_mb, jobs=args.jobs, shard=args.shard, resume=args.resume,
                     baseline=args.baseline, update_baseline=args.update_baseline,
                     allow_unavailable=args.allow_unavailable, explore=args.explore, corpus=not args.no_corpus,
                     shrink=not args.no_shrink, hypothesis_shrink=args.hypothesis_shrink,
                     summary_md=args.summary_md, cache_dir=args.cache_dir,
                     case_cache=args.case_cache,
                     jax_cache=args.jax_cache, writable=tuple(args.writable),
                     sandbox=args.sandbox)


class _CliEvents:
    """Renders the gate's events: a status line per phase, a progress bar for the cases."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.prog: Any = None
        self.task: Any = None

    def __call__(self, ev: Any) -> None:
        if ev.kind in ("note", "warning"):
            style = "yellow" if ev.kind == "warning" else "bold"
            self._stop()
            err.print(f"[{style}]{ev.kind}[/]: " + escape(safe_text(ev.message)))
        elif ev.kind == "phase":
            self._stop()
            if ev.message in ("running cases", "generating cases") and ev.total and not self.quiet:
                generating = ev.message == "generating cases"
                if generating:
                    err.print("generating cases ...")
                self.prog = _progress(False, "generating" if generating else "running")
                self.prog.__enter__()
                self.task = self.prog.add_task("streams" if generating else "cases", total=ev.total)
            elif not self.quiet:
                err.print(escape(safe_text(ev.message)) + " ...")
        elif ev.kind == "progress" and self.prog is not None:
            self.prog.update(self.task, completed=ev.done)

    def _stop(self) -> None:
        if self.prog is not None:
            self.prog.__exit__(None, None, None)
            self.prog = None

    close = _stop


def cmd_run(args: argparse.Namespace) -> int:
    from .gate import run
    from .sandbox import not_dumpable

    not_dumpable()  # the CLI's gate process only: a library caller's process is left as it is
    events = _CliEvents(args.quiet)
    try:
        result = run(config_from_args(args), events)
    finally:
        events.close()
    _print_summary(result.meta, [r.to_dict() for r in result.records], result.problems, result.warnings)
    return result.exit_code


def safe_text(text: Any) -> str:
    """Untrusted text for the terminal: on one line, control and format characters (ANSI/OSC escapes,
    bidi overrides) as visible escapes -- a newline in an adapter name cannot fake an output line."""
    from .report.text import one_line

    return one_line(text)


def _progress(quiet: bool, label: str = "running") -> Any:
    return Progress(TextColumn(f"[bold]{label}[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), console=err, transient=False)


def _print_summary(meta: dict[str, Any], records: list[dict[str, Any]], problems: list[str],
                   warns: list[str]) -> None:
    from .report.tables import BAD, pivot, totals

    adapters = [a.get("name") for a in meta.get("adapters", [])]
    if records:
        p = pivot(records, adapters)
        t = Table("clause", *[escape(safe_text(c)) for c in p.columns],
                  title="conformance (cases charged to each clause; failures with worst error / bound)")
        for clause, row in p.iterrows():
            t.add_row(str(clause), *[escape(safe_text(v)) for v in row])
        err.print(t)
    tot = totals(records)
    for a in meta.get("adapters", []):
        n = tot.get(a.get("name"), {})
        comp = "" if a.get("compilations") is None else f", {a['compilations']} compilations"
        err.print(escape(safe_text(f"{a.get('name')}: " + ", ".join(f"{k} {v}" for k, v in n.items() if v)
                                   + f" in {a.get('seconds', 0):.1f} s (worker start {a.get('start_seconds') or 0:.1f}"
                                   f" s){comp}")))
    cps = meta.get("cases_per_second")
    err.print(f"wall time {meta.get('wall_seconds', 0):.1f} s" + (f", {cps:.1f} case-runs/s" if cps else ""))
    env = meta.get("environment") or {}
    sandbox = str(meta.get("sandbox") or "none").split(";")[0]
    err.print(escape(safe_text(f"adam-conformance {meta.get('suite_version')}, spec {meta.get('spec_version')}, seed "
                               f"{meta.get('seed')}, hypothesis {meta.get('hypothesis') or env.get('hypothesis')}, "
                               f"numpy {env.get('numpy')}; sandbox: {sandbox}")))
    bad = [r for r in records if r["verdict"] in BAD]
    for r in bad[:10]:
        err.print(f"[red]{r['verdict']}[/] " + escape(safe_text(
            f"{r['adapter']} {r['case_id']} ({', '.join(r['clauses'])}, {r['dtype']}): {_short(r['message'])}")))
        if r.get("replay"):
            err.print(escape(safe_text(f"    replay: {r['replay']}")))
    if len(bad) > 10:
        err.print(f"... {len(bad) - 10} more failures in {RESULTS}")
    groups: dict[tuple[str, str, str], int] = {}
    for r in bad:
        key = (r["adapter"], ",".join(r.get("deviates") or r["clauses"]), r["verdict"])
        groups[key] = groups.get(key, 0) + 1
    for (adapter, charged, verdict), n in sorted(groups.items()):
        err.print("[red]nonconformant[/]: " + escape(safe_text(f"{adapter} {charged}: {n} {verdict} case(s)"
                                                   + (" not in the baseline" if meta.get("baseline") else ""))))
    for line in problems:
        err.print(f"[red]not green[/]: {escape(safe_text(line))}")
    for line in warns:
        err.print(f"[yellow]warning[/]: {escape(safe_text(line))}")
    code = meta.get("gate", {}).get("exit_code")
    if code is not None:
        err.print("[green]conformant[/] (exit 0)" if code == EXIT_OK else
                  f"[yellow]interrupted[/] (exit {code})" if code == EXIT_INTERRUPTED else
                  f"[red]not conformant[/] (exit {code})")


# ---- replay ----------------------------------------------------------------------------------------

def cmd_replay(args: argparse.Namespace) -> int:
    """One case file on one adapter, in a worker (the adapter is never imported here)."""
    from . import runner
    from .workers import Limits, new_token

    adapters = list(dict.fromkeys(args.adapter))
    if len(adapters) > 1:
        raise UsageError(f"replay runs one adapter, got {len(adapters)} ({', '.join(adapters)}): replay the case once "
                         "per adapter")
    spec = adapters[0]
    try:
        case = load(args.case)
    except CaseFormatError as e:
        raise UsageError(str(e)) from None
    _check_spec(spec)
    from .gate import _check_findable

    _check_findable([spec])  # a misspelt module: one line, exit 2, as `run` says it
    token = new_token()
    handles, dispatcher = runner.start([spec], 1, Limits(timeout=args.timeout, load_timeout=args.load_timeout),
                                       None, token)
    h = handles[0]
    try:
        runner.wait_described(handles)
        if h.load_error:
            out.print(escape(safe_text(f"ERROR: {h.described.get('reason')}")))
            return EXIT_NONCONFORMANT
        if not h.available:
            out.print(escape(safe_text(f"UNSUPPORTED: {h.name} cannot run here: {h.described.get('reason')}")))
            return EXIT_NONCONFORMANT
        info = h.info()
        why = runner.declared_skip(case, info) if info else None
        if why:  # nothing judged: never the exit code of a case that passed
            out.print(escape(safe_text(f"UNSUPPORTED: {h.name}: {why} (nothing judged: exit 1)")))
            return EXIT_NONCONFORMANT
        from .expected import expected

        exp = expected(case)
        ans = dispatcher.run_one(h.pool, case.to_json(), args.timeout)
        if ans is None:
            out.print("ERROR: the worker did not answer")
            return EXIT_NONCONFORMANT
        run = runner.Runner([h])
        v, _ = run._verdict(case, exp, h, ans)
    finally:
        dispatcher.close(token)
    out.print(escape(safe_text(f"case {case.id} ({', '.join(case.clauses)}, {case.dtype}, {case.num_steps} steps): "
                               f"{case.title}")))
    out.print(f"adapter {escape(safe_text(h.name))}: [bold]{v.verdict}[/] -- {escape(safe_text(v.message))}")
    if ans.fault is None:
        from . import protocol
        from .diff import step_table

        try:
            outcome = protocol.outcome(ans.wire, case)
        except protocol.OutcomeError:
            outcome = None
        table = step_table(case, exp, outcome, all_steps=args.all_steps) if outcome is not None else None
        if table is not None:
            out.print(table)
    if v.verdict == "UNSUPPORTED":
        out.print("nothing judged: the adapter declined the case (exit 1)")
    return EXIT_OK if v.verdict == "PASS" else EXIT_NONCONFORMANT


# ---- report ----------------------------------------------------------------------------------------

def _read_run(d: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from .gate import _stat
    from .records import read_meta, unique_records

    st = _stat(d, "report", error=UsageError)
    if st is None or not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{d}: not a directory written by `adam-conformance run`")
    if _stat(d / RESULTS, "report", error=UsageError) is None:
        raise UsageError(f"{d}: no {RESULTS} here; give a directory written by `adam-conformance run`")
    has_meta = _stat(d / META, "report", error=UsageError) is not None
    meta: dict[str, Any] = read_meta(d / META) if has_meta else {"complete": False}
    try:
        records = unique_records(d / RESULTS)
    except (ValueError, UnicodeDecodeError) as e:
        raise UsageError(str(e)) from None
    return meta, records


def merge_runs(runs: Sequence[tuple[dict[str, Any], list[dict[str, Any]]]]) -> tuple[dict[str, Any],
                                                                                     list[dict[str, Any]]]:
    """Join shard outputs (``conformance.compat`` checks that they belong together)."""
    from . import compat

    try:
        return compat.merge_runs(runs)  # type: ignore[no-any-return]
    except ValueError as e:
        raise UsageError(str(e)) from None


# report --out FILE: the format its name ends in, unless --format says otherwise; with --merge, any other
# name (or a directory) is the merged run's directory
REPORT_SUFFIXES = {".md": "md", ".html": "html", ".json": "json"}


def cmd_report(args: argparse.Namespace) -> int:
    import os

    from .gate import _check_out as check_out
    from .gate import _prepare_out as prepare_out
    from .gate import _regular_or_absent as regular_or_absent
    from .gate import _stat, run_file_of, write_reports
    from .gate import _writable_dir as writable_dir
    from .report import render

    runs = [_read_run(d) for d in args.dirs]
    if len(runs) > 1 and not args.merge:
        raise UsageError("several directories given: add --merge to join them into one report")
    def is_dir_or_absent(path: Path) -> bool:
        st = _stat(path, "--out")
        return st is None or stat.S_ISDIR(st.st_mode)

    to_dir = False  # --merge --out DIR: a run directory; else one report file (or stdout)
    if args.out is not None:  # checked before anything is merged, drawn or written
        target = _stat(args.out, "--out")
        is_dir = target is not None and stat.S_ISDIR(target.st_mode)
        if is_dir and not args.merge:
            raise UsageError(f"--out {args.out} is a directory; give a file path for the report (.md, .html or .json)")
        to_dir = args.merge and (is_dir or args.out.suffix.lower() not in REPORT_SUFFIXES)
        for d in args.dirs:
            if run_file_of(args.out, Path(d)):
                raise UsageError(f"--out {args.out} is one of the files of the run {d} being reported; give a path "
                                 "outside the run's own files")
        blocking = next((a for a in args.out.parents if not is_dir_or_absent(a)), None)
        if blocking is not None:
            raise UsageError(f"--out {args.out}: {blocking} is a file, not a directory")
        if to_dir:
            if args.format is not None:
                raise UsageError(f"--format {args.format} with --merge --out {args.out}: a merged run directory gets "
                                 "every report (summary.md, report.html, summary.json); leave --format out, or name "
                                 "a .md, .html or .json file as --out")
            for d in args.dirs:  # writing the merged run clears its subdirectories: a shard there would be lost
                here, there = args.out.resolve(), Path(d).resolve()
                if here == there:
                    raise UsageError(f"--out {args.out} is one of the runs being merged; give a new directory")
                if there.is_relative_to(here) or here.is_relative_to(there):
                    inside = f"holds the run {d}" if there.is_relative_to(here) else f"lies inside the run {d}"
                    raise UsageError(f"--out {args.out} {inside} being merged; give a directory outside every run "
                                     "being merged")
            if target is not None and not is_dir:
                raise UsageError(f"--out {args.out} is a file; --merge writes a run directory")
            writable_dir(args.out, "--out")
            check_out(args.out, False)  # as for a run: replace only a finished run, never other files
        else:
            regular_or_absent(args.out, "--out")
    meta, records = merge_runs(runs) if args.merge else runs[0]
    fmt = args.format or (REPORT_SUFFIXES.get(args.out.suffix.lower()) if args.out is not None else None) or "md"
    if to_dir:
        assert args.out is not None
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # os.access cannot tell (root, /proc, a read-only mount): creating it can
            raise OutputPathError(f"--out {args.out} cannot be created ({e.strerror or type(e).__name__})") from None
        prepare_out(args.out, False)
        for d in args.dirs:  # the case files the merged records link to
            for f in sorted((d / "failures").glob("*.json")):
                dst = args.out / "failures" / f.name
                if not dst.exists():
                    atomic_write(dst, f.read_text())
        for r in records:  # replay commands name the merged run's copy of each case file
            if r.get("case_file") and r.get("replay") and " --adapter " in r["replay"]:
                spec = r["replay"].split(" --adapter ", 1)[1]
                r["replay"] = f"adam-conformance replay {os.path.relpath(args.out / r['case_file'])} --adapter {spec}"
        with RecordWriter(args.out) as w:
            w.write_many(records)
        write_json(args.out / META, meta)
        gate = meta["gate"]
        write_reports(args.out, meta, records, list(gate["problems"]), list(gate["warnings"]))
        err.print(escape(f"merged {len(runs)} runs ({len(records)} records) into {args.out}"))
        for p in gate["problems"]:
            err.print("[red]not green[/]: " + escape(safe_text(p)))
        return int(gate["exit_code"])
    run_dir = str(args.dirs[0])
    if fmt == "json":
        text = json.dumps(render.summary(meta, records, run_dir), indent=1, sort_keys=True, default=str)
    elif fmt == "html":
        page_dir = (args.out.parent if args.out is not None else Path("."))
        links = os.path.relpath(args.dirs[0], page_dir) + "/"
        text = render.html_page(meta, records, args.title, list(meta.get("gate", {}).get("problems", [])),
                                list(meta.get("gate", {}).get("warnings", [])), links, run_dir)
    else:
        text = render.markdown(meta, records, args.title, list(meta.get("gate", {}).get("problems", [])),
                               list(meta.get("gate", {}).get("warnings", [])), run_dir)
    if args.out is not None:
        try:
            atomic_write(args.out, text)
        except OSError as e:
            raise UsageError(f"--out {args.out} cannot be written ({e.strerror})") from None
    else:
        sys.stdout.write(text)
    if args.merge:  # the merged run's verdict, whether or not it was written out
        for p in meta["gate"]["problems"]:
            err.print("[red]not green[/]: " + escape(safe_text(p)))
        return int(meta["gate"]["exit_code"])
    return EXIT_OK


def cmd_selftest(args: argparse.Namespace) -> int:
    from . import selftest

    events = None if getattr(args, "quiet", False) else _CliEvents(False)  # one status line per gate run
    result = selftest.selftest(max_examples=args.max_examples, seed=args.seed, on_event=events)
    out.print(escape(selftest.render(result)))
    return EXIT_OK if getattr(result, "ok", False) else EXIT_NONCONFORMANT
