"""What wave 14 closed: red team round 9, against wave 13's merge, per-clause rule, names and plugin.

- An adapter named exactly like a baseline pattern (``torch-cpu-*``) matched it, and took its waivers:
  exit 0 on an Adam wrong everywhere (an entry equal to the name was exempt from the screen). Now it is
  screened like any name the pattern matches.
- An installed plugin (entry point) chose a name inside ``torch-cpu-*`` and was never screened, since
  its spec is registered. Now every adapter that is not built in is screened.
- The pytest plugin dropped a gap in a cell no selected item owns (``-k``), and an XPASS of an entry
  about a clause no item has: green while its gate run said exit 1.
- A corpus case that carries a selected clause but leads with another made that other clause owe a
  judged case: a false red for a clause nobody selected.
- ``report --merge`` judged every shard under the first shard's declaration (order-dependent verdicts),
  and joined shards run with different baseline contents at one path; both are now another
  configuration (exit 2).
- ``report --merge --out M`` cleared shards that lay inside ``M``; it is now exit 2 and nothing is lost.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from conformance import compat
from conformance.model import Record
from conformance.pytest_plugin import read_run
from conformance.runner import Gap, gaps_from_records

EPS = ("--clauses", "UPD-EPS,UPD-MOMENTS", "--dtypes", "float32", "--max-examples", 2, "--no-corpus", "--no-shrink",
       "--quiet")
STAR_BASELINE = ('[[deviation]]\nadapter = "torch-cpu-*"\nclauses = ["UPD-*"]\nverdicts = ["FAIL"]\n'
                 'reason = "eps placement"\n')

ADAPTERS = textwrap.dedent('''
    from adapters.base import Ran, StepState
    from adapters.numpy_lowp import NumpyLowPrecisionAdapter


    def shifted(out):
        if not isinstance(out, Ran):
            return out
        return Ran([{n: StepState(s.w + 1.0, s.m, s.v) for n, s in st.items()} for st in out.steps], out.dtypes)


    class StarName(NumpyLowPrecisionAdapter):
        """Wrong on every case; named as the pattern itself."""

        name = "torch-cpu-*"
        dtypes = ("float32",)

        def run(self, case):
            return shifted(super().run(case))


    class Evil(StarName):
        name = "torch-cpu-evil"


    class Faithful(NumpyLowPrecisionAdapter):
        name = "faithful-w14"
        dtypes = ("float32",)
''')


ADAPTERS_FILE = "round9_w14.py"  # conftest.adapters_file writes ADAPTERS there


# ---- names -----------------------------------------------------------------------------------------------

def test_a_name_equal_to_a_baseline_pattern_is_refused(cli: Any, tmp_path: Path, adapters_file: Path) -> None:
    bl = tmp_path / "bl.toml"
    bl.write_text(STAR_BASELINE)
    proc = cli("run", "--adapter", f"{adapters_file}:StarName", "--baseline", bl, *EPS, "--out", tmp_path / "r")
    line = cli.usage_error(proc)
    assert "calls itself 'torch-cpu-*', which deviation #1 (torch-cpu-*: UPD-*) in the baseline also matches" in line, \
        line


def test_an_installed_plugin_is_screened_like_a_file(cli: Any, tmp_path: Path, adapters_file: Path) -> None:
    plug = tmp_path / "plug"
    (plug / "evilpkg_w14-0.1.dist-info").mkdir(parents=True)
    (plug / "evilpkg_w14.py").write_text(adapters_file.read_text())
    (plug / "evilpkg_w14-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: evilpkg-w14\nVersion: 0.1\n")
    (plug / "evilpkg_w14-0.1.dist-info" / "entry_points.txt").write_text(
        "[adam_conformance.adapters]\nmy-adam-w14 = evilpkg_w14:Evil\nfair-adam-w14 = evilpkg_w14:Faithful\n")
    bl = tmp_path / "bl.toml"
    bl.write_text(STAR_BASELINE)
    env = {"PYTHONPATH": str(plug)}
    proc = cli("run", "--adapter", "my-adam-w14", "--baseline", bl, *EPS, "--out", tmp_path / "r", env=env)
    line = cli.usage_error(proc)
    assert "calls itself 'torch-cpu-evil', which deviation #1 (torch-cpu-*: UPD-*) in the baseline" in line, line
    # a plugin named outside every pattern runs and is judged as before (it found the entry point)
    proc = cli("run", "--adapter", "fair-adam-w14", "--baseline", bl, *EPS, "--out", tmp_path / "r2", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]


# ---- the pytest plugin -----------------------------------------------------------------------------------

def rec(verdict: str, clauses: tuple[str, ...], dtype: str, case_id: str) -> Record:
    return Record(case_id=case_id, adapter="a", clauses=clauses, dtype=dtype, verdict=verdict)


def result(records: list[Record], problems: list[str], gaps: list[Gap] = ()) -> Any:  # type: ignore[assignment]
    return SimpleNamespace(meta={"adapters": [{"name": "a"}]}, records=records, problems=problems, gaps=list(gaps),
                           baseline_problems=[], warnings=[], out=".", counts=lambda: {})


def test_a_gap_no_selected_item_owns_fails_the_items() -> None:
    line = "a: judged no UPD-EPS case in float16 (1 admitted by its declaration were all declined at run time)"
    gap = Gap("a", "UPD-EPS", "float16", line)
    records = [rec("PASS", ("UPD-EPS",), "float32", "UPD-00000000000a"),
               rec("PASS", ("UPD-MOMENTS",), "float16", "UPD-00000000000b")]
    picked = [("UPD-EPS", "float32"), ("UPD-MOMENTS", "float16")]  # -k: not the cell the gap is about
    got = read_run("x.py:A", result(records, [line], [gap]), picked, None, False)
    assert len(got.wide) == 1 and "where no selected item looks" in got.wide[0] and line in got.wide[0]
    assert [got.outcome(k).kind for k in picked] == ["failed", "failed"]
    grid = [*picked, ("UPD-EPS", "float16")]  # the item that owns it fails alone
    got = read_run("x.py:A", result(records, [line], [gap]), grid, None, False)
    assert got.wide == [] and [got.outcome(k).kind for k in grid] == ["passed", "passed", "failed"]


def test_an_xpass_about_a_clause_no_item_has_fails_the_items(tmp_path: Path) -> None:
    bl = tmp_path / "bl.toml"
    bl.write_text('[[deviation]]\nadapter = "a"\nclauses = ["LR-FIXED"]\nverdicts = ["FAIL"]\nreason = "old bug"\n')
    records = [rec("PASS", ("UPD-EPS", "LR-FIXED"), "float32", "UPD-00000000000a")]
    only = [("UPD-EPS", "float32")]
    selected = result(records, [])
    selected.meta["clauses"] = ["UPD-EPS", "LR-FIXED"]  # the run looked at LR-FIXED; -k picked no item of it
    got = read_run("x.py:A", selected, only, bl, False)
    assert len(got.wide) == 1 and "[XPASS(strict)] deviation #1 (a: LR-FIXED)" in got.wide[0], got.wide
    assert got.outcome(only[0]).kind == "failed"
    both = [*only, ("LR-FIXED", "float32")]  # an item about the entry's clause reports it itself
    got = read_run("x.py:A", selected, both, bl, False)
    assert got.wide == [] and [got.outcome(k).kind for k in both] == ["passed", "failed"]
    narrow = result(records, [])  # round 10: a run that did not select LR-FIXED did not check the entry
    narrow.meta["clauses"] = ["UPD-EPS"]
    got = read_run("x.py:A", narrow, only, bl, False)
    assert got.wide == [] and got.xpass == [] and got.outcome(only[0]).kind == "passed"


def test_an_entry_about_unselected_clauses_is_not_checked() -> None:
    from conformance import baseline as bl

    e = bl.Entry(index=1, adapter="a", clauses=("LR-FIXED",), verdicts=("FAIL",), reason="old bug")
    e.matched = 1  # matched only as a passing case's second clause
    fails, warns = bl.problems([e], {"clauses": ["UPD-EPS"], "adapters": [{"name": "a", "available": True}]})
    assert fails == [] and any("about clauses this run did not select" in w for w in warns), (fails, warns)
    fails, _ = bl.problems([e], {"clauses": ["UPD-EPS", "LR-FIXED"], "adapters": [{"name": "a", "available": True}]})
    assert len(fails) == 1 and fails[0].startswith("XPASS: ")


def test_a_declaration_in_another_order_or_a_baseline_by_another_path_is_the_same_run() -> None:
    a = {"options": {"baseline": "b.toml", "baseline_sha256": "ab12"},
         "adapters": [{"spec": "s", "name": "n", "info": {"dtypes": ["float32", "float16"], "support": {}}}]}
    b = {"options": {"baseline": "../x/b.toml", "baseline_sha256": "ab12"},
         "adapters": [{"spec": "s", "name": "n", "info": {"dtypes": ["float16", "float32"], "support": {}}}]}
    assert compat.config_differences(a, b) == []
    b["options"]["baseline_sha256"] = "cd34"
    assert compat.config_differences(a, b) == ['options.baseline_sha256 "ab12" vs "cd34"']


def test_a_generic_loaders_name_is_refused(cli: Any, tmp_path: Path, adapters_file: Path) -> None:
    f = tmp_path / "gen_w14.py"
    f.write_text(ADAPTERS + '\n\nclass GenName(StarName):\n    name = "torch:torch.optim:Adam"\n')
    line = cli.usage_error(cli("run", "--adapter", f"{f}:GenName", *EPS, "--out", tmp_path / "r"))
    assert "calls itself 'torch:torch.optim:Adam'; names beginning torch: or optax: are the generic" in line, line


# ---- the per-clause rule ---------------------------------------------------------------------------------

def test_a_clause_nobody_selected_owes_no_judged_case() -> None:
    records = [  # a corpus case leads with UPD-BIAS and carries the selected UPD-MOMENTS; declined at run time
        {"case_id": "UPD-00000000000a", "adapter": "a", "clauses": ["UPD-BIAS", "UPD-MOMENTS"], "dtype": "float32",
         "verdict": "UNSUPPORTED", "unsupported_by": "outcome"},
        {"case_id": "UPD-00000000000b", "adapter": "a", "clauses": ["UPD-MOMENTS"], "dtype": "float32",
         "verdict": "PASS"},
    ]
    assert gaps_from_records(records, {"a": ["float32"]}, ["UPD-MOMENTS"]) == []
    assert [(g.family, g.dtype) for g in gaps_from_records(records, {"a": ["float32"]}, ["UPD-MOMENTS", "UPD-BIAS"])
            ] == [("UPD-BIAS", "float32")]


# ---- merges ----------------------------------------------------------------------------------------------

def _shards(cli: Any, tmp_path: Path, adapter: str, *extra: Any, before: Any = None) -> list[Path]:
    dirs = []
    for k in (1, 2):
        if before is not None:
            before(k)
        d = tmp_path / f"s{k}"
        proc = cli("run", "--adapter", adapter, *EPS, "--shard", f"{k}/2", "--out", d, *extra)
        assert proc.returncode in (0, 1) and (d / "run.json").is_file(), proc.stderr[-2000:]
        dirs.append(d)
    return dirs


def test_shards_that_declare_differently_do_not_merge(cli: Any, tmp_path: Path) -> None:
    s1, s2 = _shards(cli, tmp_path, "reference-f32")
    meta = json.loads((s2 / "run.json").read_text())
    meta["adapters"][0]["info"]["dtypes"] = ["float32", "float16", "bfloat16", "float64"]  # another runner's claim
    (s2 / "run.json").write_text(json.dumps(meta))
    for order in ((s1, s2), (s2, s1)):
        line = cli.usage_error(cli("report", "--merge", *order, "--out", tmp_path / "m"))
        assert "does not belong with run 1" in line and "reference-f32 declares" in line, line
    assert compat.config_differences(json.loads((s1 / "run.json").read_text()),
                                     json.loads((s1 / "run.json").read_text())) == []


def test_shards_under_different_baseline_contents_do_not_merge(cli: Any, tmp_path: Path, adapters_file: Path) -> None:
    bl = tmp_path / "bl.toml"
    texts = {1: '[[deviation]]\nadapter = "faithful-w14"\ncase = "UPD-000000000001"\nverdicts = ["FAIL"]\n'
                'reason = "shard one"\n',
             2: '[[deviation]]\nadapter = "faithful-w14"\ncase = "UPD-000000000002"\nverdicts = ["FAIL"]\n'
                'reason = "shard two"\n'}
    s1, s2 = _shards(cli, tmp_path, f"{adapters_file}:Faithful", "--baseline", bl,
                     before=lambda k: bl.write_text(texts[k]))
    assert json.loads((s1 / "run.json").read_text())["options"]["baseline_sha256"]
    line = cli.usage_error(cli("report", "--merge", s1, s2, "--out", tmp_path / "m"))
    assert "does not belong with run 1 (run 1 vs run 2): options.baseline_sha256 " in line, line


def test_a_merge_never_clears_the_shards_it_joins(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "m"
    proc = cli("run", "--adapter", "reference-f32", *EPS, "--out", out)  # a finished run, which --out may replace
    assert proc.returncode == 0, proc.stderr[-2000:]
    inner = tmp_path / "m" / "logs"
    dirs = []
    for k in (1, 2):
        d = inner / f"s{k}"
        proc = cli("run", "--adapter", "reference-f32", *EPS, "--shard", f"{k}/2", "--out", d)
        assert proc.returncode in (0, 1), proc.stderr[-2000:]
        dirs.append(d)
    line = cli.usage_error(cli("report", "--merge", *dirs, "--out", out))
    assert "holds the run" in line, line
    assert all((d / "results.jsonl").is_file() for d in dirs)
    line = cli.usage_error(cli("report", "--merge", *dirs, "--out", dirs[0] / "merged"))
    assert "lies inside the run" in line, line
    proc = cli("report", "--merge", *dirs, "--out", tmp_path / "elsewhere")
    assert proc.returncode == 0, proc.stderr[-2000:]
