"""junit.xml in the shape of pytest's xunit2, so any CI test-report view renders a run fully.

One ``<testsuite>`` per adapter (``time``, ``timestamp``, ``hostname``, counts) and one
``<testcase>`` per clause and dtype, named ``CLAUSE[dtype]`` (stable: the catalog ID, never the
clause title, so renaming a title does not break a CI's test history), classname the adapter.
Cases are counted under the clause they are charged to, as in every other report. Outcome:

- ``<error>``     any case of the cell was an ERROR (the adapter or implementation crashed, hung, ...)
- ``<failure>``   a case deviated from the spec (FAIL) or a baseline deviation no longer occurs (XPASS)
- ``<skipped type="xfail">``  only known deviations from the baseline, with its reason
- ``<skipped type="unsupported">``  nothing ran: the adapter declares the clause or dtype unsupported

Every string is passed through ``printable``: an exception message with ESC, NUL or FF cannot make
the file ill-formed XML.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree as ET

from ..clauses import CLAUSES
from .tables import clause_verdicts
from .text import one_line, portable, printable

_ORDER = {c.id: i for i, c in enumerate(CLAUSES)}
_MSG = 500  # characters of a message attribute


def testcase_name(clause: str, dtype: str) -> str:
    return f"{clause}[{dtype}]"


def _t(seconds: float) -> str:
    return f"{seconds:.4f}"


def _cells(records: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], list[tuple[str, dict[str, Any]]]]:
    """(adapter, clause, dtype) -> [(verdict charged to that clause, record)]."""
    cells: dict[tuple[str, str, str], list[tuple[str, dict[str, Any]]]] = {}
    for r in records:
        for clause, verdict in clause_verdicts(r):
            cells.setdefault((str(r["adapter"]), clause, str(r["dtype"])), []).append((verdict, r))
    return cells


def _detail(rows: Sequence[tuple[str, dict[str, Any]]], run_dir: str | None) -> str:
    lines = []
    for v, r in rows:
        kind = f" ({r['error_kind']})" if v == "ERROR" and r.get("error_kind") else ""
        lines.append(f"{r['case_id']} {v}{kind}: {printable(r.get('message', ''))}")
        if r.get("replay"):
            lines.append(f"    replay: {portable(printable(r['replay']), run_dir)}")
    return "\n".join(lines)


def _outcome(tc: ET.Element, rows: Sequence[tuple[str, dict[str, Any]]], run_dir: str | None) -> str:
    """Attach the testcase's result element; return which counter it adds to ('' = passed)."""
    by = {v: [x for x in rows if x[0] == v] for v in ("ERROR", "FAIL", "XPASS", "XFAIL", "UNSUPPORTED")}
    ran = len(rows) - len(by["UNSUPPORTED"])
    if by["ERROR"]:
        bad = by["ERROR"] + by["FAIL"] + by["XPASS"]
        first = by["ERROR"][0][1]
        el = ET.SubElement(tc, "error", type=f"ERROR:{first.get('error_kind') or 'error'}",
                           message=one_line(f"{len(by['ERROR'])}/{ran} cases ERROR: {first.get('message', '')}",
                                            _MSG))
        el.text = _detail(bad, run_dir)
        return "errors"
    if by["FAIL"] or by["XPASS"]:
        bad = by["FAIL"] + by["XPASS"]
        first = bad[0][1]
        kinds = "/".join(k for k in ("FAIL", "XPASS") if by[k])
        el = ET.SubElement(tc, "failure", type=kinds,
                           message=one_line(f"{len(bad)}/{ran} cases {kinds}: {first.get('message', '')}", _MSG))
        el.text = _detail(bad, run_dir)
        return "failures"
    if by["XFAIL"]:
        first = by["XFAIL"][0][1]
        reason = first.get("baseline") or "known deviation (baseline)"
        explained = "; ".join(first.get("explained_by") or [])
        msg = f"{len(by['XFAIL'])}/{ran} cases: {reason}" + (f": {explained}" if explained else "")
        el = ET.SubElement(tc, "skipped", type="xfail", message=one_line(msg, _MSG))
        el.text = _detail(by["XFAIL"], run_dir)
        return "skipped"
    if ran == 0:
        ET.SubElement(tc, "skipped", type="unsupported",
                      message=one_line(rows[0][1].get("message", "unsupported"), _MSG))
        return "skipped"
    return ""


def junit(meta: dict[str, Any], records: Sequence[dict[str, Any]], run_dir: str | None = None) -> str:
    """The run as xunit2 XML text (see the module docstring for the mapping)."""
    env = meta.get("environment") or {}
    host = one_line(env.get("hostname") or socket.gethostname())
    stamp = meta.get("started") or meta.get("timestamp")
    names = [str(a.get("name")) for a in meta.get("adapters", [])]
    dtypes = [str(d) for d in meta.get("dtypes") or []]
    cells = _cells(records)
    for a, _c, _d in cells:
        if a not in names:
            names.append(a)
    root = ET.Element("testsuites", name="adam-conformance")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    total_time = 0.0
    for adapter in names:
        keys = sorted((k for k in cells if k[0] == adapter),
                      key=lambda k: (_ORDER.get(k[1], len(_ORDER)), k[1],
                                     dtypes.index(k[2]) if k[2] in dtypes else len(dtypes), k[2]))
        if not keys:
            continue
        suite = ET.SubElement(root, "testsuite", name=one_line(adapter))
        _properties(suite, meta, adapter)
        counts = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
        for key in keys:
            rows = cells[key]
            seconds = sum(float(r.get("seconds") or 0.0) for _v, r in rows)
            tc = ET.SubElement(suite, "testcase", classname=one_line(adapter), name=testcase_name(key[1], key[2]),
                               time=_t(seconds))
            counts["tests"] += 1
            kind = _outcome(tc, rows, run_dir)
            if kind:
                counts[kind] += 1
        # A record charged to two clauses is in two testcases; the suite's time counts it once.
        suite_time = sum(float(r.get("seconds") or 0.0) for r in records if str(r["adapter"]) == adapter)
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
        suite.set("time", _t(suite_time))
        if stamp:
            suite.set("timestamp", one_line(stamp))
        suite.set("hostname", host)
        total_time += suite_time
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", _t(float(meta.get("wall_seconds") or total_time)))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _properties(suite: ET.Element, meta: dict[str, Any], adapter: str) -> None:
    props = ET.SubElement(suite, "properties")
    info: dict[str, Any] = {}
    for a in meta.get("adapters", []):
        if str(a.get("name")) == adapter:
            info = a.get("info") or {}
    pairs = [("suite_version", meta.get("suite_version")), ("spec_version", meta.get("spec_version")),
             ("seed", meta.get("seed")), ("device", info.get("device")),
             ("hypothesis", meta.get("hypothesis") or (meta.get("environment") or {}).get("hypothesis")),
             ("sandbox", meta.get("sandbox")),
             *((f"version.{k}", v) for k, v in (info.get("versions") or {}).items())]
    for k, v in pairs:
        if v is not None:
            ET.SubElement(props, "property", name=one_line(k), value=one_line(v))
