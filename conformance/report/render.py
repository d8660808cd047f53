"""Report files from records + run metadata: summary.json, summary.md, junit.xml, report.html.

Every report says what ran: suite version, spec, seed, adapters with library versions, device and
dtypes -- and whether the run was complete.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree as ET

import pandas as pd

from ..clauses import BY_ID, CLAUSES
from .tables import BAD, counts, frame, pivot, totals


def _clause_set(ids: Sequence[str]) -> str:
    if not ids or len(ids) == len(CLAUSES):
        return f"all {len(CLAUSES)} clauses of the catalog"
    return ", ".join(ids)


def header_lines(meta: dict[str, Any]) -> list[str]:
    lines = [
        f"- suite: adam-conformance {meta.get('suite_version')} - spec: {meta.get('spec')} "
        f"({meta.get('spec_version')})",
        f"- seed: {meta.get('seed')} - max examples per clause and dtype: {meta.get('max_examples')} - dtypes: "
        f"{', '.join(meta.get('dtypes') or []) or 'all'} - cases: {meta.get('cases')}"
        + (f" - shard {meta['shard']}" if meta.get("shard") else ""),
        f"- clauses: {_clause_set(meta.get('clauses') or [])}",
        f"- host: {meta.get('environment', {}).get('platform')} (Python {meta.get('environment', {}).get('python')})",
    ]
    if not meta.get("complete", True):
        lines.insert(0, "- **PARTIAL RUN**: interrupted before every case ran; counts cover the finished records only")
    if meta.get("wall_seconds") is not None:
        lines.append(f"- wall time: {meta['wall_seconds']:.1f} s"
                     + (f" ({meta['cases_per_second']:.1f} case-runs/s)" if meta.get("cases_per_second") else ""))
    if meta.get("baseline"):
        lines.append(f"- baseline: {meta['baseline']}")
    return lines


def adapter_lines(meta: dict[str, Any]) -> list[str]:
    out = ["| adapter | available | device | dtypes | versions | cases | seconds | compilations |",
           "|---|---|---|---|---|---|---|---|"]
    for a in meta.get("adapters", []):
        info = a.get("info") or {}
        vers = ", ".join(f"{k} {v}" for k, v in (info.get("versions") or {}).items())
        out.append(f"| {a.get('name')} | {'yes' if a.get('available') else 'no: ' + str(a.get('reason'))} | "
                   f"{info.get('device', '')} | {', '.join(info.get('dtypes', []))} | {vers} | "
                   f"{a.get('cases_run', '')} | {a.get('seconds', '')} | "
                   f"{'' if a.get('compilations') is None else a.get('compilations')} |")
    return out


def _md_table(df: pd.DataFrame) -> list[str]:
    if df.empty:
        return ["(no records)"]
    cols = list(df.columns)
    out = ["| clause | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for clause, row in df.iterrows():
        out.append(f"| {clause} | " + " | ".join(str(row[c]) for c in cols) + " |")
    return out


def failure_lines(records: Sequence[dict[str, Any]], limit: int = 60) -> list[str]:
    bad = [r for r in records if r["verdict"] in BAD]
    if not bad:
        return ["No failures."]
    out = ["| adapter | case | clauses | dtype | verdict | finding | replay |", "|---|---|---|---|---|---|---|"]
    for r in bad[:limit]:
        msg = str(r.get("message", "")).replace("|", "\\|")[:220]
        replay = f"`{r['replay']}`" if r.get("replay") else ""
        link = f"[{r['case_id']}]({r['case_file']})" if r.get("case_file") else r["case_id"]
        out.append(f"| {r['adapter']} | {link} | {', '.join(r['clauses'])} | {r['dtype']} | {r['verdict']} | "
                   f"{msg} | {replay} |")
    if len(bad) > limit:
        out.append(f"\n... and {len(bad) - limit} more in results.jsonl")
    return out


def markdown(meta: dict[str, Any], records: Sequence[dict[str, Any]], title: str = "Adam conformance") -> str:
    adapters = [a.get("name") for a in meta.get("adapters", [])]
    parts = [f"# {title}", "", *header_lines(meta), "", "## Adapters", "", *adapter_lines(meta), "",
             "## Conformance by clause", "",
             "Cells: cases run and failed (FAIL/ERROR/XPASS), with the worst error as a multiple of its bound.", "",
             *_md_table(pivot(records, adapters)), "", "## Failures", "", *failure_lines(records), ""]
    return "\n".join(parts)


def summary(meta: dict[str, Any], records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    c = counts(frame(records))
    cells = [] if c.empty else c.astype(object).where(pd.notna(c), None).to_dict(orient="records")
    return {"meta": meta, "totals": totals(records), "cells": cells,
            "failures": [{k: r.get(k) for k in ("case_id", "adapter", "clauses", "dtype", "verdict", "message",
                                                 "replay", "case_file")}
                         for r in records if r["verdict"] in BAD]}


def junit(meta: dict[str, Any], records: Sequence[dict[str, Any]]) -> str:
    """One testcase per clause x adapter: failure if any case failed, skipped if none could run."""
    suites = ET.Element("testsuites", name="adam-conformance")
    df = frame(records)
    for adapter, sub in df.groupby("adapter", sort=False):
        suite = ET.SubElement(suites, "testsuite", name=str(adapter))
        n = fails = skips = 0
        for clause in [c.id for c in CLAUSES]:
            rows = sub[sub.clause == clause]
            if rows.empty:
                continue
            n += 1
            tc = ET.SubElement(suite, "testcase", classname=f"{adapter}", name=f"{clause}: {BY_ID[clause].title}")
            bad = rows[rows.verdict.isin(BAD)]
            if not bad.empty:
                fails += 1
                first = bad.iloc[0]
                el = ET.SubElement(tc, "failure", message=f"{len(bad)}/{len(rows)} cases: {first.message}"[:500])
                el.text = "\n".join(f"{r.case_id} {r.dtype} {r.verdict}: {r.message}" for r in bad.itertuples())
            elif (rows.verdict == "UNSUPPORTED").all():
                skips += 1
                ET.SubElement(tc, "skipped", message=str(rows.iloc[0].message)[:500])
        suite.set("tests", str(n))
        suite.set("failures", str(fails))
        suite.set("skipped", str(skips))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def html_page(meta: dict[str, Any], records: Sequence[dict[str, Any]]) -> str:
    adapters = [a.get("name") for a in meta.get("adapters", [])]
    table = pivot(records, adapters)
    head = "".join(f"<li>{html.escape(line[2:])}</li>" for line in header_lines(meta))
    body = table.to_html(escape=True) if not table.empty else "<p>(no records)</p>"
    return (f"<!doctype html><meta charset='utf-8'><title>Adam conformance</title>"
            f"<h1>Adam conformance</h1><ul>{head}</ul>{body}\n")
