"""Nothing an implementation under test writes can take over a report (issue 8 item 9, issue 12).

The shared hostile run (tests/report_run.py) has adapter names, declarations and exception messages
full of ``<script>``, ``|``, newlines, Markdown headings, ANSI/OSC escapes, NUL, FF and a bidi
override. Checked here on the files the run wrote and on its terminal output: summary.md keeps its
own headings and table shapes (it goes to $GITHUB_STEP_SUMMARY), junit.xml parses, report.html has
no markup from the adapter, no control character reaches any of them or the terminal, no absolute
path of this machine appears, and every report file is readable by others (0644 under umask 022).
"""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import report_run

from conformance.records import read_records
from conformance.report import render
from conformance.report.text import md, one_line, portable, printable

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ("summary.md", "summary.json", "junit.xml", "report.html")
OWN_HEADINGS = {"# Adam conformance", "## Adapters", "## Conformance by clause", "## Failures", "## Baseline"}
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e\u2028]")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, attrs))


@pytest.fixture(scope="module")
def run(cli: Any) -> dict[str, Any]:
    return report_run.hostile_run(cli)


def test_markdown_cannot_add_headings_or_break_tables(run: dict[str, Any]) -> None:
    md_text = (run["out"] / "summary.md").read_text()
    headings = [line for line in md_text.splitlines() if line.lstrip().startswith("#")]
    assert set(headings) <= OWN_HEADINGS, headings
    assert "All clauses conformant" not in {h.lstrip("# ") for h in headings}
    # Every row of a table has as many unescaped cell separators as its header.
    for block in re.split(r"\n\s*\n", md_text):
        rows = [r for r in block.splitlines() if r.startswith("|")]
        if not rows:
            continue
        widths = {len(re.findall(r"(?<!\\)\|", r)) for r in rows}
        assert len(widths) == 1, rows
    assert "<script" not in md_text and "<img" not in md_text
    assert "&lt;script&gt;" in md_text  # shown, escaped: the name is still readable
    assert "\\x1b" in md_text  # the escape is visible as text


def test_no_control_characters_in_any_report_or_the_terminal(run: dict[str, Any]) -> None:
    for name in REPORTS:
        text = (run["out"] / name).read_text(encoding="utf-8")
        assert not CONTROL.search(text), (name, CONTROL.search(text))
    proc = run["proc"]
    for stream in (proc.stdout, proc.stderr):
        assert not CONTROL.search(stream), CONTROL.search(stream)


def test_terminal_output_has_no_injected_lines(run: dict[str, Any]) -> None:
    lines = run["proc"].stderr.splitlines()
    assert not [x for x in lines if x.lstrip().startswith(("# heading", "## All clauses"))], lines


def test_junit_parses(run: dict[str, Any]) -> None:
    root = ET.parse(run["out"] / "junit.xml").getroot()
    assert any("<script>" in (s.get("name") or "") for s in root.iter("testsuite"))  # text, not markup


def test_html_carries_no_markup_from_the_adapter(run: dict[str, Any]) -> None:
    page = (run["out"] / "report.html").read_text()
    tags = _Tags()
    tags.feed(page)
    assert not {"script", "img", "iframe", "object", "embed"} & {t for t, _a in tags.seen}
    assert not [a for _t, attrs in tags.seen for a, _v in attrs if a.startswith("on")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_no_absolute_paths_in_reports(run: dict[str, Any]) -> None:
    for name in REPORTS:
        text = (run["out"] / name).read_text()
        for path in (str(run["tmp"]), str(run["tmp"].resolve()), str(ROOT)):
            assert path not in text, (name, path)


def test_report_files_are_world_readable(run: dict[str, Any]) -> None:
    mask = os.umask(0)
    os.umask(mask)
    for name in REPORTS:
        mode = (run["out"] / name).stat().st_mode & 0o777
        assert mode == 0o666 & ~mask, (name, oct(mode))


def test_report_command_renders_every_format_from_the_run(cli: Any, run: dict[str, Any], tmp_path: Path) -> None:
    for fmt in ("md", "html", "json"):
        dest = tmp_path / f"r.{fmt}"
        proc = cli("report", run["out"], "--format", fmt, "--out", dest)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert not CONTROL.search(dest.read_text())


def test_markdown_legend_explains_charged_counts(run: dict[str, Any]) -> None:
    meta = json.loads((run["out"] / "run.json").read_text())
    text = render.markdown(meta, list(read_records(run["out"] / "results.jsonl")))
    assert "charged to" in text and "counted under the clause" in text


@pytest.mark.parametrize("hostile", ["a|b", "x\n## h", "<b>", "`c`", "[l](javascript:x)", "\x1b[2J", "*e*", "# t"])
def test_md_renders_the_literal_string(hostile: str) -> None:
    out = md(hostile)
    assert "\n" not in out and not re.search(r"(?<!\\)\|", out) and "<b>" not in out
    assert not out.startswith("#") and "\x1b" not in out


def test_printable_and_one_line() -> None:
    assert printable("a\x1b[31mb\x00\u202e") == "a\\x1b[31mb\\x00\\u202e"
    assert printable("l1\nl2\tx\r") == "l1\nl2\tx\\x0d"
    assert one_line("l1\nl2") == "l1\\nl2" and one_line("abcdef", 4) == "abc…"


def test_portable_paths() -> None:
    assert portable(f"replay {ROOT}/reports/x.json") == "replay reports/x.json"
    assert portable("replay /elsewhere/run/failures/a.json", "/elsewhere/run") == "replay failures/a.json"
    assert portable("../rel/path and /usr/bin/x") == "../rel/path and /usr/bin/x"
    up = os.path.relpath("/elsewhere/run/failures/a.json")
    assert portable(f"replay {up} --adapter x", "/elsewhere/run") == "replay failures/a.json --adapter x"
