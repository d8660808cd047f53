"""Report files from records + run metadata: summary.json, summary.md, junit.xml, report.html.

Every report says what ran: suite version, spec, seed, adapters with library versions, device and
dtypes -- and whether the run was complete.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from ..clauses import CLAUSES
from ..records import atomic_write, write_json
from .junit import junit as junit
from .tables import BAD, counts, frame, pivot, totals
from .text import md, md_code, portable, portable_path


def _clause_set(ids: Sequence[str]) -> str:
    if not ids or len(ids) == len(CLAUSES):
        return f"all {len(CLAUSES)} clauses of the catalog"
    return ", ".join(ids)


LEGEND = ("Cells: cases run for the adapter and clause; `k/N FAIL` means k of N failed (FAIL, ERROR or XPASS), "
          "`(x r)` the worst error as a multiple of its bound. A failing case is counted under the clause it is "
          "*charged to* -- the clause whose alternative reading explains the deviation -- and as passing under its "
          "other clauses, so a cell can count cases generated for other clauses (a sparse case that fails only "
          "because of where eps is added counts under UPD-EPS). `xfail`: a deviation the baseline lists; "
          "`unsupported`: cases the adapter declared it cannot run, or declined when asked (counted beside the "
          "judged ones: `8 pass, 5 unsupported`).")


def header_lines(meta: dict[str, Any], run_dir: str | None = None) -> list[str]:
    """The run's identity as Markdown list items (every value escaped)."""
    env = meta.get("environment") or {}
    lines = [
        f"- suite: adam-conformance {md(meta.get('suite_version'))} - spec: {md(meta.get('spec'))} "
        f"({md(meta.get('spec_version'))})",
        f"- seed: {md(meta.get('seed'))} - max examples per clause and dtype: {md(meta.get('max_examples'))} - "
        f"dtypes: {md(', '.join(map(str, meta.get('dtypes') or [])) or 'all')} - cases: {md(meta.get('cases'))}"
        + (f" - shard {md(meta['shard'])}" if meta.get("shard") else ""),
        f"- clauses: {md(_clause_set(meta.get('clauses') or []))}",
        f"- host: {md(env.get('platform'))} (Python {md(env.get('python'))}) - hypothesis "
        f"{md(meta.get('hypothesis') or env.get('hypothesis'))} - numpy {md(env.get('numpy'))}",
    ]
    if meta.get("sandbox"):
        lines.append(f"- workers' sandbox: {md(meta['sandbox'])}")
    if not meta.get("complete", True):
        lines.insert(0, "- **PARTIAL RUN**: interrupted before every case ran; counts cover the finished records only")
    if meta.get("started"):
        lines.append(f"- started: {md(meta['started'])}")
    if meta.get("wall_seconds") is not None:
        lines.append(f"- wall time: {float(meta['wall_seconds']):.1f} s"
                     + (f" ({float(meta['cases_per_second']):.1f} case-runs/s)" if meta.get("cases_per_second")
                        else ""))
    if meta.get("baseline"):
        lines.append(f"- baseline: {md(portable_path(meta['baseline'], run_dir))}")
    return lines


def adapter_lines(meta: dict[str, Any]) -> list[str]:
    out = ["| adapter | available | device | dtypes | versions | cases | seconds | compilations |",
           "|---|---|---|---|---|---|---|---|"]
    for a in meta.get("adapters", []):
        info = a.get("info") or {}
        vers = ", ".join(f"{k} {v}" for k, v in (info.get("versions") or {}).items())
        avail = "yes" if a.get("available") else f"no: {a.get('reason')}"
        comp = "" if a.get("compilations") is None else a.get("compilations")
        cells = [a.get("name"), avail, info.get("device", ""), ", ".join(map(str, info.get("dtypes") or [])), vers,
                 a.get("cases_run", ""), a.get("seconds", ""), comp]
        out.append("| " + " | ".join(md(c, 300) for c in cells) + " |")
    from ..dtypes import NAMES

    away = []  # every dtype of the run an adapter that ran leaves out, with its reason or the lack of one
    for a in meta.get("adapters", []):
        info = a.get("info") or {}
        if not a.get("available") or not info:
            continue
        notes = info.get("notes") or {}
        for d in (d for d in meta.get("dtypes") or NAMES if d in NAMES and d not in (info.get("dtypes") or [])):
            why = notes.get(d) or "no reason given"
            away.append(f"- {md(a.get('name'))} does not run {md(d)}: {md(why, 300)}")
    return [*out, "", *away] if away else out


def _md_table(df: pd.DataFrame) -> list[str]:
    if df.empty:
        return ["(no records)"]
    cols = list(df.columns)
    out = ["| clause | " + " | ".join(md(c) for c in cols) + " |", "|---|" + "---|" * len(cols)]
    for clause, row in df.iterrows():
        out.append(f"| {md(clause)} | " + " | ".join(md(row[c]) for c in cols) + " |")
    return out


_SAFE_LINK = re.compile(r"[A-Za-z0-9_./-]+")


def _case_link(r: dict[str, Any], base: str = "") -> str:
    cf = str(r.get("case_file") or "")
    if cf and _SAFE_LINK.fullmatch(cf) and ".." not in cf:
        return f"[{md(r['case_id'])}]({base}{cf})"
    return md(r["case_id"])


def failure_lines(records: Sequence[dict[str, Any]], limit: int = 60, run_dir: str | None = None) -> list[str]:
    bad = [r for r in records if r["verdict"] in BAD]
    if not bad:
        return ["No failures."]
    out = ["| adapter | case | charged to | dtype | verdict | finding | replay |", "|---|---|---|---|---|---|---|"]
    for r in bad[:limit]:
        replay = md_code(portable(r["replay"], run_dir)) if r.get("replay") else ""
        verdict = r["verdict"] + (f" ({r['error_kind']})" if r.get("error_kind") else "")
        charged = ", ".join(map(str, r.get("deviates") or r["clauses"]))
        out.append(f"| {md(r['adapter'])} | {_case_link(r)} | {md(charged)} | {md(r['dtype'])} | {md(verdict)} | "
                   f"{md(r.get('message', ''), 300)} | {replay} |")
    if len(bad) > limit:
        out.append(f"\n... and {len(bad) - limit} more in results.jsonl")
    return out


def markdown(meta: dict[str, Any], records: Sequence[dict[str, Any]], title: str = "Adam conformance",
             gate_failures: Sequence[str] = (), warnings: Sequence[str] = (), run_dir: str | None = None) -> str:
    """summary.md (also appended to $GITHUB_STEP_SUMMARY): nothing in it comes unescaped from an adapter."""
    adapters = [a.get("name") for a in meta.get("adapters", [])]
    parts = [f"# {md(title)}", "", *header_lines(meta, run_dir), "", "## Adapters", "", *adapter_lines(meta), "",
             "## Conformance by clause", "", LEGEND, "",
             *_md_table(pivot(records, adapters)), "", "## Failures", "", *failure_lines(records, run_dir=run_dir),
             ""]
    if gate_failures or warnings:
        parts += ["## Baseline", "", *(f"- {md(portable(x, run_dir))}" for x in [*gate_failures, *warnings]), ""]
    return "\n".join(parts)


def portable_meta(meta: dict[str, Any], run_dir: str | None = None) -> dict[str, Any]:
    """run.json with its path fields (baseline, path-valued options) relative or elided."""
    out = dict(meta)
    if out.get("baseline"):
        out["baseline"] = portable_path(out["baseline"], run_dir)
    if isinstance(out.get("options"), dict):
        out["options"] = {k: portable_path(v, run_dir) if isinstance(v, str) and "/" in v else v
                          for k, v in out["options"].items()}
    return out


def summary(meta: dict[str, Any], records: Sequence[dict[str, Any]], run_dir: str | None = None) -> dict[str, Any]:
    c = counts(frame(records))
    cells = [] if c.empty else c.astype(object).where(pd.notna(c), None).to_dict(orient="records")
    fails = []
    for r in records:
        if r["verdict"] in BAD:
            row = {k: r.get(k) for k in ("case_id", "adapter", "clauses", "dtype", "verdict", "error_kind", "message",
                                         "replay", "case_file")}
            row["replay"] = portable(row["replay"], run_dir) if row["replay"] else row["replay"]
            fails.append(row)
    return {"meta": portable_meta(meta, run_dir), "totals": totals(records), "cells": cells, "failures": fails}


def html_page(meta: dict[str, Any], records: Sequence[dict[str, Any]], title: str = "Adam conformance",
              gate_failures: Sequence[str] = (), warnings: Sequence[str] = (), links_base: str = "",
              run_dir: str | None = None, drawn: dict[str, str] | None = None) -> str:
    """report.html (see ``report.html``): ``links_base`` is the run directory relative to the page;
    ``drawn``: its figures, already drawn (``html.figures``), else drawn here."""
    from .html import page

    return page(meta, records, title, gate_failures, warnings, links_base, run_dir, drawn)


REPORT_FILES = ("summary.json", "summary.md", "junit.xml", "report.html")


def write_all(out_dir: Path, meta: dict[str, Any], records: Sequence[dict[str, Any]],
              gate_failures: Sequence[str] = (), warnings: Sequence[str] = (), extra_md: Path | None = None,
              title: str = "Adam conformance") -> str:
    """Every report of a run into ``out_dir`` (``REPORT_FILES``, 0644 under the usual umask); returns the
    Markdown summary, for the caller to append to ``$GITHUB_STEP_SUMMARY`` (or pass ``extra_md``: an
    append that fails is ignored -- the run's own files are written either way)."""
    from .draw import Drawing
    from .html import figures

    run_dir = str(out_dir)
    meta = dict(meta)
    if not meta.get("started") and meta.get("wall_seconds") is not None:  # runs before run.json had it
        t0 = datetime.now(UTC) - timedelta(seconds=float(meta["wall_seconds"]))
        meta["started"] = t0.isoformat(timespec="seconds")
    drawing = Drawing(figures(meta, records))  # the page's figures, drawn beside the other reports
    summ = summary(meta, records, run_dir)
    summ["gate"] = {"failures": list(gate_failures), "warnings": list(warnings)}
    write_json(out_dir / "summary.json", summ)
    md_text = markdown(meta, records, title, gate_failures, warnings, run_dir)
    atomic_write(out_dir / "summary.md", md_text)
    atomic_write(out_dir / "junit.xml", junit(meta, records, run_dir))
    # The page is rendered while the figures are drawn, each one's place held by a comment no record can
    # produce (autoescape writes a record's "<" as "&lt;"), which the figure then replaces.
    held = {k: f"<!--figure {k}-->" for k in drawing.jobs}
    page = html_page(meta, records, title, gate_failures, warnings, "", run_dir, held)
    for k, svg in drawing.result().items():
        page = page.replace(held[k], svg, 1)
    atomic_write(out_dir / "report.html", page)
    if extra_md is not None:
        try:
            with open(extra_md, "a", encoding="utf-8") as fh:
                fh.write(md_text)
        except OSError:
            pass
    return md_text
