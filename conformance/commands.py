"""The subcommands behind ``adam-conformance`` (argument parsing lives in ``cli``)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from . import baseline as bl
from . import registry, runner
from .cases import Case, CaseFormatError, load
from .clauses import CLAUSES, select
from .cli import EXIT_NONCONFORMANT, EXIT_OK, UsageError, github_summary_path
from .compare import judge
from .corpus import corpus_cases
from .dtypes import parse_dtypes
from .expected import expected
from .generate import generate
from .records import META, RESULTS, RecordWriter, atomic_write, read_records, write_json
from .report import render
from .report.tables import BAD, pivot, totals
from .shrink import shrink_case

# Wide enough for the clause x adapter table when output goes to a file or a CI log.
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
out = Console(width=None if sys.stdout.isatty() else 200)


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
    if spec in registry.BUILTIN:
        return
    try:
        registry.resolve(spec)
    except registry.AdapterSpecError as e:
        raise UsageError(str(e)) from None


def cmd_list(args: argparse.Namespace) -> int:
    specs = list(dict.fromkeys([*registry.builtin_names(), *args.adapter]))
    for s in args.adapter:
        _check_spec(s)
    t = Table("adapter", "runs here", "device", "dtypes", "emulated", "unsupported", title="adapters")
    for spec in specs:
        try:
            a = registry.resolve(spec)
            ok, why = a.available()
        except Exception as e:  # a broken optional backend is a row, not a crash
            t.add_row(escape(spec), escape(f"no: {type(e).__name__}: {e}"), "", "", "", "")
            continue
        if not ok:
            t.add_row(escape(a.name), escape(f"no: {why}"), "", "", "", "")
            continue
        info = a.info()
        emu = ", ".join(k for k, v in info.support.items() if v == "emulated")
        uns = ", ".join(k for k, v in info.support.items() if v == "unsupported")
        t.add_row(a.name, "yes", info.device, ", ".join(info.dtypes), emu, uns)
    out.print(t)
    return EXIT_OK


# ---- run -------------------------------------------------------------------------------------------

def _prepare_out(out_dir: Path, resume: bool) -> None:
    if resume:
        if not (out_dir / RESULTS).exists():
            raise UsageError(f"--resume: {out_dir} holds no {RESULTS} to continue")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in (RESULTS, META, "summary.json", "summary.md", "junit.xml"):
        (out_dir / name).unlink(missing_ok=True)
    shutil.rmtree(out_dir / "failures", ignore_errors=True)


def _cases(cfg: runner.RunConfig, use_corpus: bool) -> list[Case]:
    found: dict[str, Case] = {}
    if use_corpus:
        for c in corpus_cases():
            if set(c.clauses) & set(cfg.clauses) and c.dtype in cfg.dtypes:
                found.setdefault(c.id, c)
    for c in generate(cfg.clauses, cfg.dtypes, cfg.seed, cfg.max_examples):
        found.setdefault(c.id, c)
    return list(found.values())


def _explored(cfg: runner.RunConfig, handles: Sequence[runner.AdapterHandle]) -> list[Case]:
    from .explore import explore

    def run_one(case: Case) -> list[tuple[str, Any]]:
        outs = [(h.name, runner.run_in_worker(h, case, cfg.timeout)) for h in handles]
        return [(name, o) for name, o in outs if o is not None]

    return explore(cfg.clauses, cfg.dtypes, cfg.seed, cfg.max_examples, run_one)


def _save_new_corpus(out_dir: Path, records: list[dict[str, Any]]) -> int:
    """Explore mode: failing cases not yet in the committed corpus, ready to be pinned there."""
    known = {c.id for c in corpus_cases()}
    n = 0
    for r in records:
        if r.get("case_file") and r["case_id"] not in known:
            dst = out_dir / "new-corpus" / Path(r["case_file"]).name
            if not dst.exists():
                atomic_write(dst, (out_dir / r["case_file"]).read_text())
                n += 1
    return n


def _save_failure(out_dir: Path, rec: dict[str, Any], case: Case, spec: str) -> None:
    path = out_dir / "failures" / f"{case.id}.json"
    if not path.exists():
        atomic_write(path, case.dumps() + "\n")
    rec["case_file"] = f"failures/{case.id}.json"
    rec["replay"] = f"adam-conformance replay {out_dir / rec['case_file']} --adapter {spec}"


def cmd_run(args: argparse.Namespace) -> int:
    try:
        clauses = tuple(c.id for c in select(args.clauses))
        dtypes = parse_dtypes(args.dtypes)
    except ValueError as e:
        raise UsageError(str(e)) from None
    explicit = list(dict.fromkeys(args.adapter))
    for s in explicit:
        _check_spec(s)
    entries: list[bl.Entry] = []
    if args.baseline is not None:
        try:
            entries = bl.load(args.baseline)
        except bl.BaselineError as e:
            raise UsageError(str(e)) from None
    seed = args.seed
    if args.explore:
        seed = int(time.time() * 1000) % (2**31)
        err.print(f"[bold]explore[/]: fresh seed {seed} (replay this search with --seed {seed})")
    cfg = runner.RunConfig(explicit or list(registry.builtin_names()), args.out, seed, args.max_examples, clauses,
                           dtypes, args.timeout, args.jobs, args.shard, args.resume,
                           {"baseline": str(args.baseline) if args.baseline else None, "explore": args.explore})
    _prepare_out(args.out, args.resume)
    t0 = time.monotonic()
    with err.status("starting adapter workers ..."):
        handles = [runner.start(s, args.jobs, args.timeout) for s in cfg.adapters]
    if not explicit:  # skip what cannot run here; an adapter that broke while loading stays, as ERRORs
        for h in handles:
            if not h.available and not h.described.get("load_error"):
                err.print(escape(f"skipping {h.name}: {h.described.get('reason')}"))
                h.kill()
        handles = [h for h in handles if h.available or h.described.get("load_error")]
    for h in handles:
        if h.described.get("load_error"):
            err.print(f"[red]{escape(h.spec)}[/]: " + escape(f"{h.described['reason']} -- every case is an ERROR"))
    if not handles:
        raise UsageError("no adapter can run here; see `adam-conformance list`")
    with err.status("exploring (targeted search) ..." if args.explore else "generating cases ..."):
        all_cases = _explored(cfg, handles) if args.explore else _cases(cfg, not args.no_corpus)
    seq = {c.id: i for i, c in enumerate(all_cases)}
    cases = runner.select_shard(all_cases, cfg.shard)
    skip = runner.resume_skip(args.out) if args.resume else set()
    spec_of = {h.name: h.spec for h in handles}

    def on_record(rec: dict[str, Any], case: Case) -> None:
        rec["seq"] = seq[case.id]
        if rec["verdict"] in ("FAIL", "ERROR"):
            _save_failure(args.out, rec, case, spec_of[rec["adapter"]])
        bl.apply(entries, rec)

    run = runner.Runner(handles, cfg, on_record)
    complete = False
    try:
        with RecordWriter(args.out, append=args.resume) as writer, _progress(args.quiet) as prog:
            task = prog.add_task("cases", total=len(cases) * len(handles))
            run.run(cases, writer, skip, lambda n: prog.advance(task, n))
        complete = True
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: finished records are in results.jsonl; continue with --resume")
    finally:
        run.close()
        wall = time.monotonic() - t0
        runner.write_meta(cfg, handles, len(cases), complete, wall)
    records = list(read_records(args.out / RESULTS))
    if entries:
        _reapply_counts(entries, records)
    if complete and not args.no_shrink:
        _shrink_failures(args.out, records, handles, cfg, args.hypothesis_shrink)
    if args.explore:
        n_new = _save_new_corpus(args.out, records)
        err.print(f"explore: {n_new} new failing case(s) in {args.out / 'new-corpus'}; copy them into "
                  "conformance/corpus/ to replay them in every gate run")
    meta = json.loads((args.out / META).read_text())
    meta["cases_per_second"] = len(records) / wall if wall > 0 else None
    meta["baseline"] = str(args.baseline) if args.baseline else None
    write_json(args.out / META, meta)
    gate_fails, warns = bl.problems(entries) if entries else ([], [])
    write_reports(args.out, meta, records, gate_fails, warns, github_summary_path(args.summary_md))
    if args.update_baseline:
        atomic_write(args.update_baseline, bl.from_records(records))
        err.print(f"baseline written to {args.update_baseline}")
    _print_summary(meta, records, gate_fails, warns)
    if not complete:
        return 130
    bad = any(r["verdict"] in BAD for r in records) or bool(gate_fails)
    return EXIT_NONCONFORMANT if bad else EXIT_OK


def _reapply_counts(entries: list[bl.Entry], records: list[dict[str, Any]]) -> None:
    """Baseline counts over every record (including resumed ones), from the raw verdicts."""
    for e in entries:
        e.matched = e.failed = 0
        e.worst_ratio = 0.0
        e.regressions = []
    for r in records:
        raw = dict(r, verdict=r.get("raw_verdict", r["verdict"]))
        bl.apply(entries, raw)


def _shrink_failures(out_dir: Path, records: list[dict[str, Any]], handles: Sequence[runner.AdapterHandle],
                     cfg: runner.RunConfig, with_hypothesis: bool = False) -> None:
    """Replace each saved failing case by a smaller one that still fails the same way."""
    by_name = {h.name: h for h in handles}
    if with_hypothesis:
        _hypothesis_examples(out_dir, records, by_name, cfg)
    done: set[str] = set()
    # Known deviations (XFAIL) keep their case files as found; only new failures are shrunk.
    todo = [r for r in records if r.get("case_file") and r["verdict"] in ("FAIL", "ERROR")]
    if not todo:
        return
    with err.status(f"shrinking {len(todo)} failing case(s) ..."):
        for r in todo:
            if r["case_id"] in done or r["adapter"] not in by_name:
                continue
            done.add(r["case_id"])
            path = out_dir / r["case_file"]
            try:
                case = load(path)
            except CaseFormatError:
                continue
            small = shrink_case(case, r, by_name[r["adapter"]], cfg.timeout)
            if small is not None and small.id != case.id:
                text = json.loads(small.dumps())
                text["shrunk_from"] = case.id
                atomic_write(path, json.dumps(text, indent=1) + "\n")


def _hypothesis_examples(out_dir: Path, records: list[dict[str, Any]], by_name: dict[str, runner.AdapterHandle],
                         cfg: runner.RunConfig) -> None:
    """One hypothesis-shrunk failing case per (adapter, charged clause), saved under minimal/."""
    from .shrink import hypothesis_minimal

    seen: set[tuple[str, str]] = set()
    for r in records:
        charged = ",".join(r.get("deviates") or r["clauses"])
        key = (r["adapter"], charged)
        if (not r.get("case_file") or r["verdict"] not in ("FAIL", "ERROR") or key in seen
                or r["adapter"] not in by_name or r.get("kind") != "steps"):
            continue
        seen.add(key)
        with err.status(escape(f"hypothesis shrinking {r['adapter']} {charged} ...")):
            small = hypothesis_minimal(load(out_dir / r["case_file"]), r, by_name[r["adapter"]], cfg.timeout,
                                       cfg.seed)
        if small is not None:
            atomic_write(out_dir / "minimal" / f"{small.id}.json", small.dumps() + "\n")
            err.print(escape(f"minimal failing case for {r['adapter']} {charged}: "
                             f"adam-conformance replay {out_dir / 'minimal' / (small.id + '.json')} "
                             f"--adapter {by_name[r['adapter']].spec}"))


def write_reports(out_dir: Path, meta: dict[str, Any], records: list[dict[str, Any]], gate_fails: list[str],
                  warns: list[str], extra_md: Path | None = None) -> None:
    summ = render.summary(meta, records)
    summ["gate"] = {"failures": gate_fails, "warnings": warns}
    write_json(out_dir / "summary.json", summ)
    md = render.markdown(meta, records)
    if gate_fails or warns:
        md += "\n## Baseline\n\n" + "\n".join(f"- {x}" for x in [*gate_fails, *warns]) + "\n"
    atomic_write(out_dir / "summary.md", md)
    atomic_write(out_dir / "junit.xml", render.junit(meta, records))
    if extra_md is not None:
        try:
            with open(extra_md, "a", encoding="utf-8") as fh:
                fh.write(md)
        except OSError as e:
            err.print(f"could not write the Markdown summary to {extra_md}: {e.strerror}")


class _Null:
    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *a: object) -> None:
        return None

    def add_task(self, *a: Any, **k: Any) -> int:
        return 0

    def advance(self, *a: Any) -> None:
        return None


def _progress(quiet: bool) -> Any:
    if quiet:
        return _Null()
    return Progress(TextColumn("[bold]running[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), console=err, transient=False)


def _print_summary(meta: dict[str, Any], records: list[dict[str, Any]], gate_fails: list[str],
                   warns: list[str]) -> None:
    adapters = [a.get("name") for a in meta.get("adapters", [])]
    p = pivot(records, adapters)
    t = Table("clause", *p.columns, title="conformance (cases run; failures with worst error / bound)")
    for clause, row in p.iterrows():
        t.add_row(str(clause), *[escape(str(v)) for v in row])
    err.print(t)
    tot = totals(records)
    for a in meta.get("adapters", []):
        n = tot.get(a.get("name"), {})
        comp = "" if a.get("compilations") is None else f", {a['compilations']} compilations"
        err.print(f"{a.get('name')}: " + ", ".join(f"{k} {v}" for k, v in n.items() if v)
                  + f" in {a.get('seconds', 0):.1f} s{comp}")
    cps = meta.get("cases_per_second")
    err.print(f"wall time {meta.get('wall_seconds', 0):.1f} s" + (f", {cps:.1f} case-runs/s" if cps else ""))
    bad = [r for r in records if r["verdict"] in BAD]
    for r in bad[:10]:
        err.print(f"[red]{r['verdict']}[/] " + escape(f"{r['adapter']} {r['case_id']} ({', '.join(r['clauses'])}, "
                                                       f"{r['dtype']}): {r['message'][:160]}"))
        if r.get("replay"):
            err.print(escape(f"    replay: {r['replay']}"))
    if len(bad) > 10:
        err.print(f"... {len(bad) - 10} more failures in {RESULTS}")
    groups: dict[tuple[str, str, str], int] = {}
    for r in bad:
        key = (r["adapter"], ",".join(r.get("deviates") or r["clauses"]), r["verdict"])
        groups[key] = groups.get(key, 0) + 1
    for (adapter, charged, verdict), n in sorted(groups.items()):
        err.print("[red]nonconformant[/]: " + escape(f"{adapter} {charged}: {n} {verdict} case(s)"
                                                         + (" not in the baseline" if meta.get("baseline") else "")))
    for line in gate_fails:
        err.print(f"[red]{escape(line)}[/]")
    for line in warns:
        err.print(f"[yellow]warning[/]: {escape(line)}")


# ---- replay ----------------------------------------------------------------------------------------

def cmd_replay(args: argparse.Namespace) -> int:
    try:
        case = load(args.case)
    except CaseFormatError as e:
        raise UsageError(str(e)) from None
    _check_spec(args.adapter)
    adapter = registry.resolve(args.adapter)
    ok, why = adapter.available()
    if not ok:
        out.print(f"UNSUPPORTED: {adapter.name} cannot run here: {why}")
        return EXIT_OK
    exp = expected(case)
    outcome = adapter.run(case)
    v = judge(case, exp, outcome)
    out.print(escape(f"case {case.id} ({', '.join(case.clauses)}, {case.dtype}, {case.num_steps} steps): "
                     f"{case.title}"))
    out.print(f"adapter {escape(adapter.name)}: [bold]{v.verdict}[/] -- {escape(v.message)}")
    from .diff import step_table

    table = step_table(case, exp, outcome, all_steps=args.all_steps)
    if table is not None:
        out.print(table)
    return EXIT_OK if v.verdict in ("PASS", "UNSUPPORTED") else EXIT_NONCONFORMANT


# ---- report ----------------------------------------------------------------------------------------

def _read_run(d: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not (d / RESULTS).exists():
        raise UsageError(f"{d}: no {RESULTS} here; give a directory written by `adam-conformance run`")
    meta: dict[str, Any] = {}
    if (d / META).exists():
        try:
            meta = json.loads((d / META).read_text())
        except json.JSONDecodeError:
            raise UsageError(f"{d / META}: not valid JSON") from None
    else:
        meta = {"complete": False}
    return meta, list(read_records(d / RESULTS))


def merge_runs(runs: Sequence[tuple[dict[str, Any], list[dict[str, Any]]]]) -> tuple[dict[str, Any],
                                                                                     list[dict[str, Any]]]:
    """Join shard outputs: records deduplicated and put back in the unsharded order."""
    metas = [m for m, _ in runs]
    adapters: dict[str, dict[str, Any]] = {}
    for m in metas:
        for a in m.get("adapters", []):
            prev = adapters.get(a.get("name"))
            if prev is None:
                adapters[a.get("name")] = dict(a)
            else:
                prev["cases_run"] = prev.get("cases_run", 0) + a.get("cases_run", 0)
                prev["seconds"] = round(prev.get("seconds", 0) + a.get("seconds", 0), 3)
                if a.get("compilations") is not None:
                    prev["compilations"] = (prev.get("compilations") or 0) + a["compilations"]
    order = {name: i for i, name in enumerate(adapters)}
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for _, recs in runs:
        for r in recs:
            seen.setdefault((r["case_id"], r["adapter"]), r)
    records = sorted(seen.values(), key=lambda r: (r.get("seq", 0), order.get(r["adapter"], 0)))
    meta = dict(metas[0]) if metas else {}
    meta.update({"adapters": list(adapters.values()), "shard": None,
                 "cases": sum(m.get("cases", 0) for m in metas),
                 "complete": all(m.get("complete", False) for m in metas),
                 "wall_seconds": max((m.get("wall_seconds") or 0) for m in metas) if metas else None,
                 "merged_from": len(metas)})
    return meta, records


def cmd_report(args: argparse.Namespace) -> int:
    runs = [_read_run(d) for d in args.dirs]
    if len(runs) > 1 and not args.merge:
        raise UsageError("several directories given: add --merge to join them into one report")
    meta, records = merge_runs(runs) if args.merge else runs[0]
    if args.merge and args.out is not None and args.out.suffix == "":
        args.out.mkdir(parents=True, exist_ok=True)
        for d in args.dirs:  # the case files the merged records link to
            for f in sorted((d / "failures").glob("*.json")):
                dst = args.out / "failures" / f.name
                if not dst.exists():
                    atomic_write(dst, f.read_text())
        with RecordWriter(args.out) as w:
            for r in records:
                w.write(r)
        write_json(args.out / META, meta)
        write_reports(args.out, meta, records, [], [])
        err.print(f"merged {len(runs)} runs ({len(records)} records) into {args.out}")
        return EXIT_OK
    if args.format == "json":
        text = json.dumps(render.summary(meta, records), indent=1, sort_keys=True, default=str)
    elif args.format == "html":
        text = render.html_page(meta, records)
    else:
        text = render.markdown(meta, records, args.title)
    if args.out is not None:
        atomic_write(args.out, text)
    else:
        sys.stdout.write(text)
    return EXIT_OK
