"""report.html: one self-contained page a person reads at a glance (jinja2 template + matplotlib SVG).

Works offline: the page has no script at all and a Content-Security-Policy that forbids any (so even
a string that slipped past escaping could not run), styles are inline, pictures are inline SVG.
Everything that comes from a record or an adapter's declaration goes through jinja2's autoescape and
``printable`` (control characters as visible escapes). Links: each matrix cell to the list of its
cases on the page, each failing case to its case file (relative to the page, ``links_base``).

The page is a pure function of (run.json, results.jsonl): it never runs code under test; a
failing case's trajectory is drawn from the ``trace`` its record carries (see ``trace.py``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import jinja2
from markupsafe import Markup

from ..clauses import BY_ID, CLAUSES, FAMILIES
from . import plots
from .draw import Job
from .tables import BAD, clause_verdicts, counts, frame
from .text import portable, portable_path, printable

CELL_CASES = 40  # cases listed per matrix cell (worst first); the rest are counted
FAILURES = 300  # rows of the failures list
TRAJECTORIES = 60  # trajectory plots (the worst case per adapter x charged clause)

STATUS = {  # status -> (symbol, label): readable without colour
    "error": ("⚠", "ERROR"), "fail": ("✗", "FAIL"), "xpass": ("!", "XPASS"), "xfail": ("◐", "xfail"),
    "emulated": ("≈", "emulated"), "pass": ("✓", "pass"), "unsupported": ("–", "unsupported"),
    "none": ("", "no cases"),
}
_ANCHOR = re.compile(r"[^A-Za-z0-9-]")
_SAFE_HREF = re.compile(r"[A-Za-z0-9_./-]+")


def _finalize(value: Any) -> Any:
    if isinstance(value, Markup) or not isinstance(value, str):
        return "" if value is None else value
    return printable(value)


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("conformance.report", "templates"),
                             autoescape=True, finalize=_finalize, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["ratio"] = _fmt_ratio
    return env


def _fmt_ratio(x: Any) -> str:
    v = plots.as_float(x)
    if v is None:
        return ""
    return "0" if v == 0 else f"{v:.3g}"


def anchor(*parts: Any) -> str:
    return "-".join(_ANCHOR.sub("_", str(p)) for p in parts)


def case_href(r: dict[str, Any], base: str) -> str | None:
    cf = str(r.get("case_file") or "")
    return f"{base}{cf}" if cf and _SAFE_HREF.fullmatch(cf) and ".." not in cf else None


def _status(row: Any, emulated: bool) -> str:
    ran = sum(int(row[v]) for v in ("PASS", "FAIL", "ERROR", "XFAIL", "XPASS"))
    if row["ERROR"]:
        return "error"
    if row["FAIL"]:
        return "fail"
    if row["XPASS"]:
        return "xpass"
    if row["XFAIL"]:
        return "xfail"
    if ran:
        return "emulated" if emulated else "pass"
    return "unsupported" if row["UNSUPPORTED"] else "none"


def _cell_text(row: Any, status: str) -> tuple[str, str]:
    """(main text, small text) of a matrix cell."""
    ran = sum(int(row[v]) for v in ("PASS", "FAIL", "ERROR", "XFAIL", "XPASS"))
    bad = int(row["FAIL"] + row["ERROR"] + row["XPASS"])
    worst = plots.as_float(row["worst_ratio"])
    small = f"×{worst:.2g}" if worst is not None and worst == worst and worst > 1 else ""
    if status in ("error", "fail", "xpass"):
        return f"{bad}/{ran}", small
    if status == "xfail":
        return f"{int(row['XFAIL'])}/{ran}", small
    if status in ("pass", "emulated"):
        return f"{ran}", ""
    return "", ""


def _points(records: Sequence[dict[str, Any]]) -> list[plots.Point]:
    pts = []
    for r in records:
        ratio = plots.as_float(r.get("ratio"))
        if ratio is None or r.get("kind") == "construct":
            continue
        for clause, v in clause_verdicts(r):
            if v == r["verdict"]:
                pts.append(plots.Point(clause, str(r["adapter"]), str(r["dtype"]), ratio, v))
    return pts


def _emulated(meta: dict[str, Any], records: Sequence[dict[str, Any]]) -> set[tuple[str, str]]:
    out = {(str(r["adapter"]), str(c)) for r in records for c in (r.get("emulated") or [])}
    for a in meta.get("adapters", []):
        for c, s in ((a.get("info") or {}).get("support") or {}).items():
            if str(s).lower() == "emulated":
                out.add((str(a.get("name")), str(c)))
    return out


def _matrix(meta: dict[str, Any], records: Sequence[dict[str, Any]], adapters: list[str],
            clauses: list[str]) -> tuple[list[dict[str, Any]], dict[tuple[str, str], list[tuple[str, dict]]]]:
    c = counts(frame(records))
    emu = _emulated(meta, records)
    by_cell: dict[tuple[str, str], Any] = {(str(r.adapter), str(r.clause)): r for r in c.itertuples(index=False)}
    rows, family = [], None
    for clause in clauses:
        cl = BY_ID.get(clause)
        fam = cl.family if cl else clause.split("-")[0]
        cells = []
        for ai, a in enumerate(adapters):
            row = by_cell.get((a, clause))
            if row is None:
                cells.append({"status": "none", "symbol": "", "label": "no cases", "text": "", "small": "",
                              "href": None, "title": f"{a}: no cases of {clause}"})
                continue
            rd = row._asdict()
            st = _status(rd, (a, clause) in emu)
            text, small = _cell_text(rd, st)
            detail = ", ".join(f"{k} {int(rd[k])}" for k in ("PASS", "FAIL", "ERROR", "XFAIL", "XPASS", "UNSUPPORTED")
                               if int(rd[k]))
            cells.append({"status": st, "symbol": STATUS[st][0], "label": STATUS[st][1], "text": text,
                          "small": small, "href": "#" + anchor("cell", ai, clause),
                          "title": f"{a} / {clause}: {detail}"
                                   + (f"; worst error {small[1:]} x bound" if small else "")})
        rows.append({"clause": clause, "title": cl.title if cl else "", "family": fam,
                     "family_name": FAMILIES.get(fam, fam), "new_family": fam != family, "cells": cells})
        family = fam
    cases: dict[tuple[str, str], list[tuple[str, dict]]] = defaultdict(list)
    for r in records:
        for clause, v in clause_verdicts(r):
            cases[(str(r["adapter"]), clause)].append((v, r))
    return rows, cases


_RANK = {"ERROR": 0, "FAIL": 1, "XPASS": 2, "XFAIL": 3, "PASS": 4, "UNSUPPORTED": 5}


def _cell_sections(cases: dict[tuple[str, str], list[tuple[str, dict]]], adapters: list[str], clauses: list[str],
                   base: str) -> list[dict[str, Any]]:
    out = []
    for ai, a in enumerate(adapters):
        for clause in clauses:
            rows = cases.get((a, clause))
            if not rows:
                continue
            rows = sorted(rows, key=lambda x: (_RANK.get(x[0], 9), -(plots.as_float(x[1].get("ratio")) or 0.0)))
            shown = [{"verdict": v, "case_id": r["case_id"], "href": case_href(r, base), "dtype": r["dtype"],
                      "ratio": r.get("ratio") if v == r["verdict"] else None, "title": r.get("title", ""),
                      "message": r.get("message", "")} for v, r in rows[:CELL_CASES]]
            out.append({"id": anchor("cell", ai, clause), "adapter": a, "clause": clause, "rows": shown,
                        "more": max(len(rows) - CELL_CASES, 0), "n": len(rows)})
    return out


def _charged(r: dict[str, Any]) -> str:
    return ", ".join(map(str, r.get("deviates") or r["clauses"]))


def _failure_rows(records: Sequence[dict[str, Any]], base: str, run_dir: str | None) -> list[dict[str, Any]]:
    bad = [r for r in records if r["verdict"] in BAD]
    return [{"adapter": r["adapter"], "case_id": r["case_id"], "href": case_href(r, base), "charged": _charged(r),
             "dtype": r["dtype"], "verdict": r["verdict"], "kind": r.get("error_kind") or "",
             "ratio": r.get("ratio"), "message": r.get("message", ""),
             "explained": "; ".join(map(str, r.get("explained_by") or [])),
             "replay": portable(r["replay"], run_dir) if r.get("replay") else ""} for r in bad[:FAILURES]]


def _known(records: Sequence[dict[str, Any]], base: str) -> list[dict[str, Any]]:
    """Baseline deviations, one row per adapter x charged clause x kind."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r["verdict"] == "XFAIL":
            groups[(str(r["adapter"]), _charged(r))].append(r)
    out = []
    for (a, charged), recs in groups.items():
        worst = max(recs, key=lambda r: plots.as_float(r.get("ratio")) or 0.0)
        out.append({"adapter": a, "charged": charged, "n": len(recs),
                    "dtypes": ", ".join(sorted({str(r["dtype"]) for r in recs})), "ratio": worst.get("ratio"),
                    "explained": "; ".join(map(str, worst.get("explained_by") or [])) or worst.get("message", ""),
                    "raw": worst.get("raw_verdict", ""), "case_id": worst["case_id"], "href": case_href(worst, base),
                    "baseline": worst.get("baseline", "")})
    return out


def _worst_failures(records: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The worst failing case per adapter x charged clause, worst first: the ``TRAJECTORIES`` shown,
    and how many more there are."""
    worst: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        raw = r.get("raw_verdict", r["verdict"])
        if raw != "FAIL" or r.get("kind") == "construct" or not r.get("worst"):
            continue
        key = (str(r["adapter"]), _charged(r))
        prev = worst.get(key)
        if prev is None or (plots.as_float(r.get("ratio")) or 0) > (plots.as_float(prev.get("ratio")) or 0):
            worst[key] = r
    items = sorted(worst.values(), key=lambda r: -(plots.as_float(r.get("ratio")) or 0.0))
    return items[:TRAJECTORIES], max(len(items) - TRAJECTORIES, 0)


def _traced(r: dict[str, Any]) -> bool:
    tr = r.get("trace")
    return isinstance(tr, dict) and bool(tr.get("step"))


def _trajectories(records: Sequence[dict[str, Any]], colours: dict[str, str], drawn: dict[str, str]
                  ) -> tuple[list[dict[str, Any]], int]:
    """The worst failing case per adapter x charged clause, with its trajectory plot when traced."""
    shown, more = _worst_failures(records)
    out = []
    for i, r in enumerate(shown):
        a = str(r["adapter"])
        w = r["worst"]
        out.append({"id": anchor("traj", i), "adapter": a, "colour": colours.get(a, "#888888"), "charged": _charged(r),
                    "case_id": r["case_id"], "dtype": r["dtype"], "verdict": r["verdict"], "ratio": r.get("ratio"),
                    "svg": Markup(drawn[f"traj{i}"]) if f"traj{i}" in drawn else None,
                    "where": f"{w.get('quantity')} of {w.get('param')!s}{w.get('index', '')} "
                             f"(worst at step {w.get('step')}, first over its bound at step "
                             f"{r.get('first_failing_step')})",
                    "message": r.get("message", "")})
    return out, more


def _notes(meta: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for a in meta.get("adapters", []):
        info = a.get("info") or {}
        support = {str(k): str(v) for k, v in (info.get("support") or {}).items()}
        notes = {str(k): str(v) for k, v in (info.get("notes") or {}).items()}
        rows = [{"clause": c, "support": support.get(c, "note"), "note": notes.get(c, "")}
                for c in dict.fromkeys([*support, *notes])]
        if rows or not a.get("available", True):
            out.append({"adapter": a.get("name"), "rows": rows,
                        "unavailable": "" if a.get("available", True) else a.get("reason", "")})
    return out


def _header(meta: dict[str, Any], run_dir: str | None) -> list[tuple[str, str]]:
    env = meta.get("environment") or {}
    clauses = meta.get("clauses") or []
    opts = {k: portable_path(v, run_dir) for k, v in (meta.get("options") or {}).items() if v not in (None, False)}
    rows = [("suite", f"{meta.get('suite', 'adam-conformance')} {meta.get('suite_version', '')}"),
            ("spec", f"{meta.get('spec', '')}"), ("clause set", f"{meta.get('spec_version', '')} -- "
             + (f"all {len(CLAUSES)} clauses" if not clauses or len(clauses) == len(CLAUSES)
                else f"{len(clauses)} clauses: " + ", ".join(map(str, clauses)))),
            ("seed", str(meta.get("seed"))), ("max examples", f"{meta.get('max_examples')} per clause and dtype"),
            ("dtypes", ", ".join(map(str, meta.get("dtypes") or [])) or "all"),
            ("cases", f"{meta.get('cases')} in the run (an adapter runs those its declared dtypes and clauses admit)"
             + (f" (shard {meta['shard']})" if meta.get("shard") else "")
             + (f", merged from {meta['merged_from']} runs" if meta.get("merged_from") else "")),
            ("options", ", ".join(f"{k}={v}" for k, v in opts.items()) or "defaults"),
            ("host", f"{env.get('platform', '')} (Python {env.get('python', '')})"),
            ("engine", f"hypothesis {meta.get('hypothesis') or env.get('hypothesis', '')}, numpy "
             f"{env.get('numpy', '')}")]
    if meta.get("sandbox"):
        rows.append(("sandbox", str(meta["sandbox"])))
    if meta.get("started"):
        rows.append(("started", str(meta["started"])))
    if meta.get("wall_seconds") is not None:
        cps = meta.get("cases_per_second")
        rows.append(("time", f"{float(meta['wall_seconds']):.1f} s wall" + (f", {float(cps):.1f} case-runs/s"
                                                                             if cps else "")))
    if meta.get("baseline"):
        rows.append(("baseline", portable_path(meta["baseline"], run_dir)))
    return rows


def _adapters(meta: dict[str, Any], colours: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for a in meta.get("adapters", []):
        info = a.get("info") or {}
        out.append({"name": a.get("name"), "colour": colours.get(str(a.get("name")), "#999999"),
                    "available": "yes" if a.get("available", True) else f"no: {a.get('reason', '')}",
                    "description": info.get("description", ""), "device": info.get("device", ""),
                    "dtypes": ", ".join(map(str, info.get("dtypes") or [])),
                    "versions": ", ".join(f"{k} {v}" for k, v in (info.get("versions") or {}).items()),
                    "cases": a.get("cases_run", ""), "seconds": a.get("seconds", ""),
                    "compilations": "" if a.get("compilations") is None else a.get("compilations")})
    return out


def _names(meta: dict[str, Any], records: Sequence[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The page's adapters (run.json's order, then any only the records name) and clauses (catalogue order)."""
    adapters = [str(a.get("name")) for a in meta.get("adapters", [])]
    for r in records:
        if str(r["adapter"]) not in adapters:
            adapters.append(str(r["adapter"]))
    seen = {c for r in records for c in (*r["clauses"], *(r.get("deviates") or []))}
    return adapters, [c.id for c in CLAUSES if c.id in seen] + sorted(seen - set(BY_ID))


def figures(meta: dict[str, Any], records: Sequence[dict[str, Any]]) -> dict[str, Job]:
    """Every figure of the page as a job -- key -> (``plots`` function, its arguments) -- for ``page``'s
    ``drawn`` (``draw.Drawing`` draws them beside the caller)."""
    adapters, clauses = _names(meta, records)
    dtypes = [d for d in (meta.get("dtypes") or []) if any(r["dtype"] == d for r in records)] or \
        sorted({str(r["dtype"]) for r in records})
    colours = plots.palette(adapters)
    pts = _points(records)
    plotted = [c for c in clauses if any(p.clause == c for p in pts)]  # construct-only clauses have no ratio
    jobs: dict[str, Job] = {}
    if pts:
        jobs["strip"] = (plots.ratio_strip, (pts, plotted, adapters, colours))
        jobs["by_dtype"] = (plots.ratio_strip_by_dtype, (pts, plotted, adapters, dtypes, colours))
    for i, r in enumerate(_worst_failures(records)[0]):
        if _traced(r):
            jobs[f"traj{i}"] = (plots.trajectory, (r["trace"], colours.get(str(r["adapter"]), "#1f77b4"),
                                                    r.get("first_failing_step"), f"traj{i}"))
    return jobs


def page(meta: dict[str, Any], records: Sequence[dict[str, Any]], title: str = "Adam conformance",
         gate_failures: Sequence[str] = (), warnings: Sequence[str] = (), links_base: str = "",
         run_dir: str | None = None, drawn: dict[str, str] | None = None) -> str:
    """The dashboard as one HTML document; ``drawn``: ``figures``' SVGs, already drawn (else drawn here)."""
    if drawn is None:
        drawn = {k: f(*args) for k, (f, args) in figures(meta, records).items()}
    adapters, clauses = _names(meta, records)
    colours = plots.palette(adapters)
    matrix, cases = _matrix(meta, records, adapters, clauses)
    pts = _points(records)
    trajs, more_trajs = _trajectories(records, colours, drawn)
    totals = {v: sum(1 for r in records if r["verdict"] == v) for v in ("PASS", "FAIL", "ERROR", "XFAIL", "XPASS",
                                                                          "UNSUPPORTED")}
    bad = [r for r in records if r["verdict"] in BAD]
    ctx = {
        "title": title, "partial": not meta.get("complete", True), "header": _header(meta, run_dir),
        "adapters": _adapters(meta, colours), "adapter_names": adapters, "matrix": matrix, "status": STATUS,
        "strip": Markup(drawn["strip"]) if "strip" in drawn else None,
        "by_dtype": Markup(drawn["by_dtype"]) if "by_dtype" in drawn else None,
        "n_points": len(pts), "trajectories": trajs, "more_trajectories": more_trajs,
        "failures": _failure_rows(records, links_base, run_dir), "n_failures": len(bad),
        "known": _known(records, links_base), "notes": _notes(meta),
        "cells": _cell_sections(cases, adapters, clauses, links_base), "totals": totals, "n_records": len(records),
        "cell_cases": CELL_CASES,
        "gate_failures": [portable(x, run_dir) for x in gate_failures],
        "warnings": [portable(x, run_dir) for x in warnings],
        "conformant": not bad and not gate_failures and meta.get("complete", True),
    }
    return _env().get_template("report.html.j2").render(**ctx)
