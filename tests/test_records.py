"""Reading results back: every line is a record or a one-line RecordsError naming file and line; only a
torn last line (a killed writer) is tolerated, and it is the line RecordWriter(append=True) cuts off."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance import records as R


def record(**kw: Any) -> dict[str, Any]:
    r = {"case_id": "UPD-0123456789ab", "adapter": "reference", "clauses": ["UPD-EPS"], "dtype": "float32",
         "verdict": "PASS", "message": "", "ratio": 0.5, "error_kind": None, "seq": 0, "seconds": 0.01}
    r.update(kw)
    return r


def results(tmp_path: Path, *lines: bytes) -> Path:
    p = tmp_path / R.RESULTS
    p.write_bytes(b"".join(lines))
    return p


def line(r: Any) -> bytes:
    return (json.dumps(r) + "\n").encode()


def test_written_records_read_back(tmp_path: Path) -> None:
    recs = [record(seq=i, ratio=float("inf") if i == 1 else 0.5, verdict="FAIL" if i == 1 else "PASS")
            for i in range(3)]
    with R.RecordWriter(tmp_path) as w:
        for r in recs:
            w.write(r)
    back = list(R.read_records(tmp_path / R.RESULTS))
    assert len(back) == 3 and back[1]["ratio"] == "inf" and back[0] == recs[0]


BAD_LINES = {
    "empty-object": (b"{}\n", "lacks 'case_id'"),
    "list": (b"[1, 2]\n", "JSON object"),
    "number": (b"42\n", "JSON object"),
    "unknown-verdict": (line(record(verdict="MAYBE")), "unknown verdict"),
    "unknown-error-kind": (line(record(verdict="ERROR", error_kind="oops")), "error_kind"),
    "bad-raw-verdict": (line(record(verdict="XFAIL", raw_verdict="PASS")), "raw_verdict"),
    "clauses-string": (line(record(clauses="UPD-EPS")), "'clauses'"),
    "ratio-bool": (line(record(ratio=True)), "'ratio'"),
    "ratio-text": (line(record(ratio="big")), "'ratio'"),
    "seq-float": (line(record(seq=1.5)), "'seq'"),
    "case-file-escapes": (line(record(case_file="../../etc/passwd")), "case_file"),
    "case-file-absolute": (line(record(case_file="/etc/passwd")), "case_file"),
    "pass-beyond-bound": (line(record(verdict="PASS", ratio=5.2e4)), "not a record this suite writes"),
    "pass-nan-ratio": (line(record(verdict="PASS", ratio="nan")), "not a record this suite writes"),
    "xpass-beyond-bound": (line(record(verdict="XPASS", ratio=1.5)), "not a record this suite writes"),
    "pass-with-raw-verdict": (line(record(verdict="PASS", raw_verdict="FAIL")), "raw_verdict"),
    "non-utf8": (b'{"case_id": "\xff"}\n', "not UTF-8"),
    "nan-literal": (line(record())[:-2] + b', "x": NaN}\n', "NaN"),
    "garbage": (b"not json\n", "not a JSON record"),
    "deep": (b"[" * 100000 + b"]" * 100000 + b"\n", "JSON"),
}


@pytest.mark.parametrize("key", list(BAD_LINES))
def test_a_bad_line_is_one_line_with_file_and_line(tmp_path: Path, key: str) -> None:
    bad, word = BAD_LINES[key]
    path = results(tmp_path, line(record()), bad, line(record(seq=2)))
    with pytest.raises(R.RecordsError) as e:
        list(R.read_records(path))
    msg = str(e.value)
    assert msg.startswith(f"{path}:2: ") and word in msg and "\n" not in msg, msg


def test_an_unparsable_middle_line_is_not_dropped(tmp_path: Path) -> None:
    path = results(tmp_path, line(record()), b'{"case_id": "UPD-0', b"\n", line(record(seq=2)))
    with pytest.raises(R.RecordsError, match=":2: not a JSON record"):
        list(R.read_records(path))


@pytest.mark.parametrize("tail", [b'{"case_id": "UPD-0', line(record(seq=9))[:-1], b"\xff\xfe"])
def test_a_torn_last_line_is_skipped_and_cut_on_resume(tmp_path: Path, tail: bytes) -> None:
    """Whatever a killed writer left without its newline (even a complete JSON object): skipped when
    read, cut off when appending, so --resume redoes exactly that record."""
    path = results(tmp_path, line(record()), line(record(seq=1)), tail)
    assert [r["seq"] for r in R.read_records(path)] == [0, 1]
    with R.RecordWriter(tmp_path, append=True) as w:
        w.write(record(seq=2))
    assert [r["seq"] for r in R.read_records(path)] == [0, 1, 2]


def test_blank_lines_are_not_records(tmp_path: Path) -> None:
    path = results(tmp_path, line(record()), b"\n", b"  \n", line(record(seq=1)))
    assert len(list(R.read_records(path))) == 2


def test_extra_keys_are_kept(tmp_path: Path) -> None:
    path = results(tmp_path, line(record(future_field={"a": 1})))
    [r] = R.read_records(path)
    assert r["future_field"] == {"a": 1}


def test_unreadable_results_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(R.RecordsError, match="cannot read"):
        list(R.read_records(tmp_path / "missing.jsonl"))
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(R.RecordsError, match="not a regular file"):
        list(R.read_records(tmp_path / "dir.jsonl"))
    os.mkfifo(tmp_path / "fifo.jsonl")  # a read would block forever
    with pytest.raises(R.RecordsError, match="not a regular file"):
        list(R.read_records(tmp_path / "fifo.jsonl"))
    with pytest.raises(R.RecordsError, match="not a regular file"):
        R.read_meta(tmp_path / "fifo.jsonl")


def test_verdicts_match_the_report_tables() -> None:
    from conformance.report.tables import VERDICTS

    assert set(R.VERDICTS) == set(VERDICTS)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60) | st.builds(lambda d: json.dumps(d).encode(),
                                          st.dictionaries(st.sampled_from([*R.REQUIRED, *R.OPTIONAL]),
                                                          st.none() | st.integers() | st.text(max_size=4)
                                                          | st.lists(st.text(max_size=3), max_size=2),
                                                          max_size=8)))
def test_fuzz_a_line_is_a_record_or_a_value_error(raw: bytes) -> None:
    try:
        r = R.parse_line(raw)
    except ValueError as e:
        assert "\n" not in str(e)
        return
    assert R.check_record(r) is r and r["verdict"] in R.VERDICTS


# ---- run.json -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "word"), [
    (b"[1]", "JSON object"), (b"{", "not valid JSON"), (b'{"seed": NaN}', "NaN"), (b"\xff", "UTF-8"),
    (b'{"seed": "0"}', "'seed'"), (b'{"shard": 2}', "'shard'"), (b'{"complete": 1}', "'complete'"),
    (b'{"adapters": [{"spec": "x"}]}', "'adapters'"), (b'{"adapters": {}}', "'adapters'"),
])
def test_bad_run_json_is_one_line(tmp_path: Path, text: bytes, word: str) -> None:
    p = tmp_path / R.META
    p.write_bytes(text)
    with pytest.raises(R.RecordsError) as e:
        R.read_meta(p)
    assert str(e.value).startswith(str(p)) and word in str(e.value), str(e.value)


def test_run_json_reads_back(tmp_path: Path) -> None:
    meta = {"seed": 0, "shard": "1/2", "complete": True, "adapters": [{"name": "reference", "spec": "reference"}],
            "wall_seconds": None}
    R.write_json(tmp_path / R.META, meta)
    assert R.read_meta(tmp_path / R.META) == meta


def test_atomic_write_is_readable_by_others(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        R.atomic_write(tmp_path / "x.md", "hi")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.md").stat().st_mode) == 0o644


@pytest.mark.parametrize("bad", [b"{}\n", b"[1, 2]\n", b"42\n", line(record(verdict="MAYBE")), b'{"a": "\xff"}\n',
                                 b"garbage\n"])
def test_report_on_a_bad_results_line_is_one_line(cli: Any, tmp_path: Path, bad: bytes) -> None:
    run = tmp_path / "run"
    run.mkdir()
    R.write_json(run / R.META, {"complete": True, "adapters": [{"name": "reference", "spec": "reference"}]})
    results(run, line(record()), bad, line(record(seq=1)))
    msg = cli.usage_error(cli("report", run))
    assert f"{run / R.RESULTS}:2:" in msg, msg
