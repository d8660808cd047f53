"""The known-deviation baseline as a gate relies on it: an entry waives only the raw verdict it recorded
(a numeric FAIL never hides a crash, a hang or a NaN), every malformed file is one BaselineError line
naming the file and entry, and ``from_records`` writes a file ``load`` reads back to the same waivers."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance import baseline as bl
from conformance.compare import ERROR_KINDS

CASE = "UPD-0123456789ab"


def rec(verdict: str = "FAIL", kind: str | None = None, *, adapter: str = "torch-cpu", clause: str = "UPD-EPS",
        dtype: str = "float32", ratio: Any = None, case_id: str = CASE, **extra: Any) -> dict[str, Any]:
    r = {"case_id": case_id, "adapter": adapter, "clauses": [clause], "deviates": [clause] if verdict in ("FAIL",
         "ERROR") else [], "dtype": dtype, "verdict": verdict, "error_kind": kind, "ratio": ratio,
         "message": "worst error 3x bound", "kind": "steps"}
    r.update(extra)
    return r


def write(tmp_path: Path, text: str | bytes, name: str = "b.toml") -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def entry_toml(**kw: Any) -> str:
    row = {"adapter": "torch-cpu", "clauses": ["UPD-EPS"], "reason": "eps after bias correction", **kw}
    return tomli_w.dumps({"deviation": [row]})


def load_one(tmp_path: Path, **kw: Any) -> bl.Entry:
    [e] = bl.load(write(tmp_path, entry_toml(**kw)))
    return e


# ---- what an entry waives ---------------------------------------------------------------------------------

def test_a_fail_entry_waives_a_fail(tmp_path: Path) -> None:
    entries = bl.load(write(tmp_path, entry_toml(verdicts=["FAIL"], max_ratio=10.0)))
    r = rec("FAIL", ratio=3.0)
    bl.apply(entries, r)
    assert r["verdict"] == "XFAIL" and r["raw_verdict"] == "FAIL"
    assert r["baseline_reason"] == "eps after bias correction"
    assert bl.problems(entries) == ([], [])


@pytest.mark.parametrize("kind", ERROR_KINDS)
def test_a_fail_entry_does_not_waive_any_error(tmp_path: Path, kind: str) -> None:
    """The issue's case: a clause baselined for a numeric deviation now crashes, hangs or returns NaN."""
    entries = bl.load(write(tmp_path, entry_toml(verdicts=["FAIL"], max_ratio=10.0)))
    r = rec("ERROR", kind)
    bl.apply(entries, r)
    assert r["verdict"] == "ERROR" and "raw_verdict" not in r and "baseline" not in r
    assert r["message"].startswith("not waived:") and f"ERROR:{kind}" in r["message"]
    fails, _ = bl.problems(entries)
    assert len(fails) == 1 and fails[0].startswith("NOT WAIVED") and f"ERROR:{kind}" in fails[0]
    assert not any("XPASS" in f for f in fails)


def test_an_error_entry_waives_only_its_kind(tmp_path: Path) -> None:
    entries = bl.load(write(tmp_path, entry_toml(verdicts=["ERROR:raised"])))
    raised, crashed, failed = rec("ERROR", "raised"), rec("ERROR", "crashed", case_id="UPD-111111111111"), \
        rec("FAIL", ratio=2.0, case_id="UPD-222222222222")
    for r in (raised, crashed, failed):
        bl.apply(entries, r)
    assert raised["verdict"] == "XFAIL" and raised["raw_verdict"] == "ERROR"
    assert crashed["verdict"] == "ERROR" and failed["verdict"] == "FAIL"
    [fail] = bl.problems(entries)[0]
    assert "ERROR:crashed/FAIL" in fail and "2 matching case(s)" in fail


def test_an_error_without_a_kind_is_never_waived(tmp_path: Path) -> None:
    entries = bl.load(write(tmp_path, entry_toml(verdicts=[f"ERROR:{k}" for k in ERROR_KINDS] + ["FAIL"])))
    r = rec("ERROR", None)
    bl.apply(entries, r)
    assert r["verdict"] == "ERROR"


def test_an_entry_listing_several_kinds_waives_each(tmp_path: Path) -> None:
    entries = bl.load(write(tmp_path, entry_toml(verdicts=["FAIL", "ERROR:nonfinite"])))
    a, b = rec("FAIL", ratio=1.5), rec("ERROR", "nonfinite", case_id="UPD-111111111111")
    for r in (a, b):
        bl.apply(entries, r)
    assert a["verdict"] == b["verdict"] == "XFAIL"


def test_the_first_entry_that_waives_the_kind_takes_it(tmp_path: Path) -> None:
    rows = [{"adapter": "torch-*", "clauses": ["UPD-*"], "verdicts": ["FAIL"], "reason": "numeric"},
            {"adapter": "torch-cpu", "clauses": ["UPD-EPS"], "verdicts": ["ERROR:timeout"], "reason": "slow"}]
    entries = bl.load(write(tmp_path, tomli_w.dumps({"deviation": rows})))
    r = rec("ERROR", "timeout")
    bl.apply(entries, r)
    assert r["verdict"] == "XFAIL" and r["baseline"].startswith("deviation #2")
    assert [e.matched for e in entries] == [1, 1] and [e.failed for e in entries] == [0, 1]
    # deviation #1 matched a case but waived nothing: nothing fails that way any more
    fails, _ = bl.problems(entries)
    assert len(fails) == 1 and fails[0].startswith("XPASS: deviation #1")


def test_an_entry_whose_cases_pass_is_xpass(tmp_path: Path) -> None:
    entries = bl.load(write(tmp_path, entry_toml(verdicts=["FAIL"])))
    bl.apply(entries, rec("PASS"))
    fails, _ = bl.problems(entries)
    assert len(fails) == 1 and fails[0].startswith("XPASS")


def test_an_entry_matching_nothing_is_a_warning(tmp_path: Path) -> None:
    entries = bl.load(write(tmp_path, entry_toml(verdicts=["FAIL"], dtypes=["float16"])))
    bl.apply(entries, rec("FAIL"))
    fails, warns = bl.problems(entries)
    assert not fails and len(warns) == 1 and "matches no case" in warns[0]


@pytest.mark.parametrize("ratio", [11.0, "inf", "nan"])
def test_growth_beyond_max_ratio_is_a_regression(tmp_path: Path, ratio: Any) -> None:
    """Ratios as records hold them: numbers, or "inf"/"nan" strings (JSON has no such literals)."""
    entries = bl.load(write(tmp_path, entry_toml(verdicts=["FAIL"], max_ratio=10.0)))
    r = rec("FAIL", ratio=ratio)
    bl.apply(entries, r)
    assert r["verdict"] == "FAIL" and r["message"].startswith("regression")
    fails, _ = bl.problems(entries)
    assert any(f.startswith("REGRESSION") for f in fails)


def test_recount_is_idempotent_and_uses_raw_verdicts(tmp_path: Path) -> None:
    entries = bl.load(write(tmp_path, entry_toml(verdicts=["FAIL"])))
    records = [rec("FAIL", ratio=2.0), rec("ERROR", "crashed", case_id="UPD-111111111111")]
    for r in records:
        bl.apply(entries, r)
    assert records[0]["verdict"] == "XFAIL"
    snapshot = [dict(r) for r in records]
    for _ in range(2):
        bl.recount(entries, records)
        e = entries[0]
        assert (e.matched, e.failed, len(e.unwaived), e.worst_ratio) == (2, 1, 1, 2.0)
    assert records == snapshot


# ---- old files and provenance ---------------------------------------------------------------------------------

def test_an_entry_without_verdicts_waives_fail_only_and_warns(tmp_path: Path) -> None:
    entries = bl.load(write(tmp_path, entry_toml()))
    assert entries[0].verdicts == ("FAIL",)
    assert len(entries.warnings) == 1 and "verdicts" in entries.warnings[0] and "b.toml" in entries.warnings[0]
    err = rec("ERROR", "raised")
    bl.apply(entries, err)
    assert err["verdict"] == "ERROR"
    _, warns = bl.problems(entries)
    assert entries.warnings[0] in warns


def test_committed_baseline_loads() -> None:
    path = Path(__file__).resolve().parent.parent / "reports" / "baseline.toml"
    entries = bl.load(path)
    assert entries and all(e.verdicts for e in entries)


def test_another_hypothesis_version_is_a_warning(tmp_path: Path) -> None:
    text = tomli_w.dumps({"meta": {"hypothesis": "6.100.0", "suite_version": "0.1.0"},
                          "deviation": [{"adapter": "a", "clauses": ["UPD-EPS"], "verdicts": ["FAIL"], "reason": "r"}]})
    entries = bl.load(write(tmp_path, text))
    assert entries.meta == {"hypothesis": "6.100.0", "suite_version": "0.1.0"}
    same = bl.meta_warnings(entries, {"hypothesis": "6.100.0", "suite_version": "0.1.0"})
    other = bl.meta_warnings(entries, {"environment": {"hypothesis": "6.170.15"}, "suite_version": "0.1.0"})
    assert same == [] and len(other) == 1 and "6.170.15" in other[0] and "hypothesis" in other[0]
    _, warns = bl.problems(entries, {"hypothesis": "6.170.15"})
    assert any("hypothesis" in w for w in warns)


def test_another_seed_or_case_count_is_a_warning(tmp_path: Path) -> None:
    text = tomli_w.dumps({"meta": {"seed": 0, "max_examples": 6},
                          "deviation": [{"adapter": "a", "clauses": ["UPD-EPS"], "verdicts": ["FAIL"], "reason": "r"}]})
    entries = bl.load(write(tmp_path, text))
    assert bl.meta_warnings(entries, {"seed": 0, "max_examples": 6}) == []
    seed = bl.meta_warnings(entries, {"seed": 7, "max_examples": 6})
    count = bl.meta_warnings(entries, {"seed": 0, "max_examples": 20})
    assert len(seed) == 1 and "seed 0" in seed[0] and "uses 7" in seed[0], seed
    assert len(count) == 1 and "--max-examples 6" in count[0] and "uses 20" in count[0], count


# ---- malformed files: one line naming file and entry --------------------------------------------------------

BAD = {
    "dtypes-int": (entry_toml(dtypes=5), "dtypes"),
    "dtypes-string": (entry_toml(dtypes="float32"), "dtypes"),
    "dtypes-empty": (entry_toml(dtypes=[]), "dtypes"),
    "dtypes-unknown": (entry_toml(dtypes=["float8"]), "float8"),
    "max-ratio-nan": (entry_toml(max_ratio=math.nan), "max_ratio"),
    "max-ratio-inf": (entry_toml(max_ratio=math.inf), "max_ratio"),
    "max-ratio-negative": (entry_toml(max_ratio=-1.0), "max_ratio"),
    "max-ratio-bool": (entry_toml(max_ratio=True), "max_ratio"),
    "max-ratio-string": (entry_toml(max_ratio="10"), "max_ratio"),
    "max-ratio-on-error-entry": (entry_toml(max_ratio=2.0, verdicts=["ERROR:raised"]), "max_ratio"),
    "clauses-string": (entry_toml(clauses="UPD-EPS"), "clauses"),
    "clauses-unknown": (entry_toml(clauses=["UPD-EPSS"]), "UPD-EPSS"),
    "clauses-empty": (entry_toml(clauses=[]), "clauses"),
    "verdicts-unknown": (entry_toml(verdicts=["ERROR:segfault"]), "ERROR:segfault"),
    "verdicts-bare-error": (entry_toml(verdicts=["ERROR"]), "verdicts"),
    "verdicts-string": (entry_toml(verdicts="FAIL"), "verdicts"),
    "adapter-int": (entry_toml(adapter=3), "adapter"),
    "reason-empty": (entry_toml(reason="  "), "reason"),
    "unknown-key": (entry_toml(owner="me"), "owner"),
    "case-and-clauses": (entry_toml(case=CASE), "exactly one"),
    "case-malformed": (tomli_w.dumps({"deviation": [{"adapter": "a", "case": "nope", "reason": "r"}]}), "case"),
    "deviation-table": ("[deviation]\nadapter = 'a'\n", "array of tables"),
    "deviation-scalars": ("deviation = [1, 2]\n", "must be a table"),
    "unknown-top-level": ("owner = 'me'\n", "top-level"),
    "meta-not-table": ("meta = 3\n", "meta"),
    "meta-unknown": ("[meta]\nwho = 'me'\n", "who"),
    "meta-wrong-type": ("[meta]\nhypothesis = 6\n", "hypothesis"),
    "malformed-toml": ("[[deviation]\nadapter = 'x'\n", "not valid TOML"),
    "deep": ("a = " + "[" * 5000 + "]" * 5000 + "\n", "TOML"),
    "non-utf8": (b"[[deviation]]\nadapter = '\xff'\n", "UTF-8"),
    "utf16": ("[[deviation]]\n".encode("utf-16"), "UTF-8"),
}


@pytest.mark.parametrize("key", list(BAD))
def test_malformed_baselines_are_one_line(tmp_path: Path, key: str) -> None:
    text, word = BAD[key]
    path = write(tmp_path, text)
    with pytest.raises(bl.BaselineError) as e:
        bl.load(path)
    msg = str(e.value)
    assert word in msg and str(path) in msg and "\n" not in msg, msg
    if "deviation #" in msg:
        assert "deviation #1" in msg


def test_the_failing_entry_is_named(tmp_path: Path) -> None:
    rows = [{"adapter": "ok", "clauses": ["UPD-EPS"], "reason": "r"},
            {"adapter": "broken", "clauses": ["UPD-EPS"], "reason": "r", "dtypes": "float32"}]
    with pytest.raises(bl.BaselineError, match=r"deviation #2 \('broken'\)"):
        bl.load(write(tmp_path, tomli_w.dumps({"deviation": rows})))


@pytest.mark.parametrize("what", ["missing", "directory"])
def test_unreadable_baselines_are_one_line(tmp_path: Path, what: str) -> None:
    path = tmp_path / "b.toml"
    if what == "directory":
        path.mkdir()
    with pytest.raises(bl.BaselineError, match=r"b\.toml"):
        bl.load(path)


def test_an_oversized_baseline_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "# " + "x" * bl.MAX_BYTES + "\n")
    with pytest.raises(bl.BaselineError, match="bytes"):
        bl.load(path)


def test_error_text_from_the_file_cannot_add_lines(tmp_path: Path) -> None:
    with pytest.raises(bl.BaselineError) as e:
        bl.load(write(tmp_path, entry_toml(adapter="a\nb", dtypes=["x\n## All clauses conformant"])))
    assert "\n" not in str(e.value)


# ---- from_records round trip --------------------------------------------------------------------------------

def test_from_records_writes_one_entry_per_adapter_clause_and_kind(tmp_path: Path) -> None:
    records = [rec("FAIL", ratio=3.2), rec("FAIL", ratio=1.1, dtype="float64", case_id="UPD-111111111111"),
               rec("ERROR", "nonfinite", dtype="float16", case_id="UPD-222222222222"),
               rec("ERROR", None, case_id="UPD-333333333333"), rec("PASS", case_id="UPD-444444444444")]
    meta = {"suite_version": "0.1.0", "spec_version": "seed-nn-adam/1", "seed": 0, "max_examples": 6,
            "environment": {"hypothesis": "6.170.15"}, "adapters": []}
    text = bl.from_records(records, meta)
    data = tomllib.loads(text)
    assert data["meta"] == {"suite_version": "0.1.0", "spec_version": "seed-nn-adam/1", "hypothesis": "6.170.15",
                            "seed": 0, "max_examples": 6}
    by_kind = {tuple(d["verdicts"]): d for d in data["deviation"]}
    assert set(by_kind) == {("FAIL",), ("ERROR:nonfinite",)}
    assert by_kind[("FAIL",)]["dtypes"] == ["float32", "float64"] and by_kind[("FAIL",)]["max_ratio"] == 3.2
    assert "max_ratio" not in by_kind[("ERROR:nonfinite",)]
    assert "1 ERROR record(s) that do not say their kind" in text
    entries = bl.load(write(tmp_path, text))
    assert not entries.warnings
    fresh = [rec("FAIL", ratio=3.2), rec("ERROR", "nonfinite", dtype="float16", case_id="UPD-222222222222"),
             rec("ERROR", "crashed", case_id="UPD-555555555555")]
    for r in fresh:
        bl.apply(entries, r)
    assert [r["verdict"] for r in fresh] == ["XFAIL", "XFAIL", "ERROR"]


def test_from_records_keeps_the_reason_of_a_waived_record(tmp_path: Path) -> None:
    entries = bl.load(write(tmp_path, entry_toml(verdicts=["FAIL"], reason="torch's documented eps form")))
    r = rec("FAIL", ratio=2.0)
    bl.apply(entries, r)
    [row] = tomllib.loads(bl.from_records([r]))["deviation"]
    assert row["reason"] == "torch's documented eps form" and row["verdicts"] == ["FAIL"]


def test_from_records_without_meta_has_no_meta_table() -> None:
    assert "meta" not in tomllib.loads(bl.from_records([rec("FAIL", ratio=2.0)]))


# ---- fuzz: BaselineError with one line, or valid entries -------------------------------------------------------

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**20), st.floats(allow_nan=True),
                     st.text(max_size=12), st.sampled_from(["float32", "UPD-EPS", "UPD-*", "FAIL", "ERROR:raised",
                                                             CASE, "torch-*", "bfloat16"]))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(sorted(bl.KEYS)) | st.text(max_size=5), inner, max_size=4), max_leaves=10)
_GOOD = {"adapter": st.sampled_from(["torch-*", "mindspore", "x"]), "reason": st.sampled_from(["why", "r"]),
         "clauses": st.lists(st.sampled_from(["UPD-EPS", "UPD-*", "DEC-L2", "VAL-*"]), min_size=1, max_size=2),
         "dtypes": st.lists(st.sampled_from(["float32", "float16", "bfloat16"]), min_size=1, max_size=2),
         "verdicts": st.lists(st.sampled_from(bl.WAIVABLE), min_size=1, max_size=2),
         "max_ratio": st.floats(min_value=1e-3, max_value=1e20)}


@st.composite
def _rows(draw: Any) -> dict[str, Any]:
    """Mostly valid rows with a few keys dropped or replaced by anything (near the boundary of validity)."""
    row = {k: draw(v) for k, v in _GOOD.items() if draw(st.booleans()) or k in ("adapter", "reason", "clauses")}
    if draw(st.booleans()):
        row.pop("clauses")
        row["case"] = draw(st.sampled_from([CASE, "VAL-abcdefabcdef", "UPD-1"]))
    for key in draw(st.lists(st.sampled_from(sorted(bl.KEYS | {"owner"})), max_size=2)):
        if draw(st.booleans()):
            row.pop(key, None)
        else:
            row[key] = draw(_values)
    return row


_docs = st.dictionaries(st.sampled_from(["deviation", "meta", "other"]),
                        st.lists(_rows(), max_size=3) | _values, max_size=2) | st.fixed_dictionaries(
    {"deviation": st.lists(_rows(), max_size=3)},
    optional={"meta": st.dictionaries(st.sampled_from([*bl.META_TYPES, "x"]), _scalars, max_size=3)})


def _toml_of(doc: Any) -> str | None:
    try:
        return tomli_w.dumps(doc)
    except (TypeError, ValueError):
        return None


def _check_loaded(entries: bl.Baseline) -> None:
    for e in entries:
        assert isinstance(e.adapter, str) and e.adapter.strip() and isinstance(e.reason, str) and e.reason.strip()
        assert (e.case is None) != (not e.clauses)
        assert all(d in ("float64", "float32", "float16", "bfloat16") for d in e.dtypes)
        assert e.verdicts and all(v in bl.WAIVABLE for v in e.verdicts)
        assert e.max_ratio is None or (math.isfinite(e.max_ratio) and e.max_ratio > 0)
    bl.apply(entries, rec("ERROR", "crashed"))
    bl.problems(entries)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(doc=_docs, raw=st.binary(max_size=40), mode=st.sampled_from(["toml", "bytes", "mixed"]))
def test_fuzz_loader_gives_entries_or_one_line(tmp_path: Path, doc: Any, raw: bytes, mode: str) -> None:
    text = _toml_of(doc)
    data = raw if mode == "bytes" or text is None else (text.encode() + raw if mode == "mixed" else text.encode())
    path = tmp_path / "fuzz.toml"
    path.write_bytes(data)
    try:
        entries = bl.load(path)
    except bl.BaselineError as e:
        msg = str(e)
        assert msg.startswith(str(path)) and "\n" not in msg and "\r" not in msg
        return
    _check_loaded(entries)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.builds(rec, st.sampled_from(["FAIL", "ERROR", "PASS", "XFAIL"]),
                          st.sampled_from([None, *ERROR_KINDS]),
                          adapter=st.text(min_size=1, max_size=8) | st.sampled_from(["*", "a?", "[x]", " "]),
                          clause=st.sampled_from(["UPD-EPS", "DEC-L2", "VAL-GROUP"]),
                          dtype=st.sampled_from(["float32", "float16"]),
                          ratio=st.none() | st.floats(min_value=1e-3, max_value=1e30) | st.sampled_from(["inf", "nan"]),
                          message=st.text(max_size=30)), max_size=8))
def test_fuzz_from_records_round_trips(records: list[dict[str, Any]]) -> None:
    """Whatever a run recorded, the baseline written from it loads, and waives exactly those failures."""
    import tempfile

    for r in records:
        if r["verdict"] == "XFAIL":
            r["raw_verdict"] = "FAIL"
    text = bl.from_records(records, {"seed": 0})
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "b.toml"
        path.write_text(text, encoding="utf-8")
        entries = bl.load(path)
    for r in records:
        fresh = dict(r, verdict=r.get("raw_verdict", r["verdict"]))
        fresh.pop("raw_verdict", None)
        kind = bl.raw_kind(fresh)
        bl.apply(entries, fresh)
        if kind in bl.WAIVABLE:
            assert fresh["verdict"] == "XFAIL", (fresh, text)
        elif kind is not None:
            assert fresh["verdict"] == "ERROR"
    names = {r["adapter"] for r in records}
    stranger = rec("FAIL", adapter="\x00".join(sorted(names)) + "-other", ratio=1.0)
    bl.apply(entries, stranger)
    assert stranger["verdict"] == "FAIL", "an entry written for one adapter name matches only that name"


# ---- the gate: a numeric baseline cannot hide a crash, a hang, a NaN or a raise -------------------------------

GATE = ("--clauses", "UPD-EPS", "--dtypes", "float32", "--max-examples", 1, "--no-corpus", "--quiet", "--no-shrink",
        "--timeout", 2)
MASKED = {"NanOutput": ("broken-nan", "nonfinite"), "Segfault": ("broken-segfault", "crashed"),
          "RaiseAtStep": ("broken-raise-step", "raised"), "Hang": ("broken-hang", "timeout")}


@pytest.mark.parametrize("cls", list(MASKED))
def test_a_numeric_baseline_does_not_waive_a_fault(cli: Any, tmp_path: Path, cls: str) -> None:
    name, kind = MASKED[cls]
    b = write(tmp_path, tomli_w.dumps({"deviation": [{"adapter": name, "clauses": ["UPD-*"], "verdicts": ["FAIL"],
                                                      "reason": "numeric deviation", "max_ratio": 100.0}]}))
    proc = cli("run", "--adapter", cli.adapter(cls), *GATE, "--baseline", b, "--out", tmp_path / "run")
    assert proc.returncode == 1, proc.stderr[-3000:]
    recs = cli.records(tmp_path / "run")
    assert recs and all(r["verdict"] == "ERROR" and r["error_kind"] == kind for r in recs), recs
    assert all(r["message"].startswith("not waived") for r in recs)
    assert "NOT WAIVED" in proc.stderr and f"ERROR:{kind}" in proc.stderr


def test_a_baseline_of_the_fault_itself_waives_it(cli: Any, tmp_path: Path) -> None:
    """--update-baseline records the ERROR's kind; that file then waives that kind, and the run is green."""
    b = tmp_path / "nan.toml"
    first = cli("run", "--adapter", cli.adapter("NanOutput"), *GATE, "--out", tmp_path / "first",
                "--update-baseline", b)
    assert first.returncode == 1, first.stderr[-3000:]
    data = tomllib.loads(b.read_text())
    assert {tuple(d["verdicts"]) for d in data["deviation"]} == {("ERROR:nonfinite",)}
    assert data["meta"]["hypothesis"] and data["meta"]["seed"] == 0
    again = cli("run", "--adapter", cli.adapter("NanOutput"), *GATE, "--out", tmp_path / "again", "--baseline", b)
    assert again.returncode == 0, again.stderr[-3000:]
    recs = cli.records(tmp_path / "again")
    assert recs and all(r["verdict"] == "XFAIL" and r["raw_verdict"] == "ERROR" for r in recs)


@pytest.mark.parametrize("text", [entry_toml(dtypes=5), entry_toml(dtypes="float32"), entry_toml(max_ratio=math.nan),
                                  b"[[deviation]]\nadapter = '\xff'\n"])
def test_the_gate_refuses_a_malformed_baseline_before_any_work(cli: Any, tmp_path: Path, text: str | bytes) -> None:
    b = write(tmp_path, text)
    out = tmp_path / "run"
    line = cli.usage_error(cli("run", "--adapter", "reference-f32", *GATE, "--baseline", b, "--out", out))
    assert str(b) in line and ("deviation #1" in line or "UTF-8" in line), line
    assert not (out / "results.jsonl").exists()
