"""Runs that belong together: --resume continues only the run it was started as; --merge joins only the
distinct shards of one configuration, says which are missing, and never counts a shard twice."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from conformance import compat


def meta(**kw: Any) -> dict[str, Any]:
    m: dict[str, Any] = {
        "suite": "adam-conformance", "suite_version": "0.1.0", "spec_version": "seed-nn-adam/1",
        "hypothesis": "6.170.15", "seed": 0, "max_examples": 6, "clauses": ["UPD-EPS", "DEC-L2"],
        "dtypes": ["float32"], "options": {"baseline": None, "explore": False}, "timeout": 300.0, "shard": None,
        "cases": 10, "complete": True, "wall_seconds": 3.0,
        "adapters": [{"spec": "reference", "name": "reference", "info": {"versions": {"numpy": "2.1"}},
                      "cases_run": 10, "seconds": 1.0, "compilations": None},
                     {"spec": "torch-cpu", "name": "torch-cpu", "info": {"versions": {"torch": "2.13"}},
                      "cases_run": 10, "seconds": 2.0, "compilations": None}],
    }
    m.update(kw)
    return m


def rec(case_id: str, adapter: str, seq: int) -> dict[str, Any]:
    return {"case_id": case_id, "adapter": adapter, "clauses": ["UPD-EPS"], "dtype": "float32", "verdict": "PASS",
            "message": "", "seq": seq}


# ---- resume ---------------------------------------------------------------------------------------------

def test_resume_of_the_same_run_is_accepted() -> None:
    prev = meta(complete=False, cases=4, wall_seconds=1.0)
    compat.check_resume(prev, meta())  # counts, timings and completeness may differ


CHANGES = {
    "seed": {"seed": 1},
    "max_examples": {"max_examples": 7},
    "clauses": {"clauses": ["UPD-EPS"]},
    "dtypes": {"dtypes": ["float64"]},
    "options": {"options": {"baseline": "b.toml", "explore": False}},
    "suite_version": {"suite_version": "0.2.0"},
    "hypothesis": {"hypothesis": "6.171.0"},
    "timeout": {"timeout": 10.0},
    "shard": {"shard": "1/2"},
}


@pytest.mark.parametrize("key", list(CHANGES))
def test_resume_refuses_another_configuration(key: str) -> None:
    with pytest.raises(compat.CompatError) as e:
        compat.check_resume(meta(), meta(**CHANGES[key]))
    msg = str(e.value)
    assert key in msg and "\n" not in msg and msg.startswith("--resume"), msg


def test_resume_refuses_a_key_the_previous_run_did_not_record() -> None:
    prev = meta()
    del prev["hypothesis"]
    with pytest.raises(compat.CompatError, match="hypothesis <not recorded>"):
        compat.check_resume(prev, meta())


@pytest.mark.parametrize("change", ["drop", "reorder", "rename", "respec", "version"])
def test_resume_refuses_other_adapters(change: str) -> None:
    new = meta()
    a = new["adapters"]
    if change == "drop":
        a.pop()
    elif change == "reorder":
        a.reverse()
    elif change == "rename":
        a[1]["name"] = "torch-cpu-2"
    elif change == "respec":
        a[1]["spec"] = "torch:torch.optim:Adam"
    else:
        a[1]["info"]["versions"] = {"torch": "2.14"}
    with pytest.raises(compat.CompatError, match=r"adapter|versions"):
        compat.check_resume(meta(), new)


def test_an_adapter_without_info_is_compared_by_spec_and_name() -> None:
    prev, new = meta(), meta()
    del prev["adapters"][1]["info"]  # e.g. it failed to load the first time
    compat.check_resume(prev, new)


def test_several_differences_are_still_one_line() -> None:
    with pytest.raises(compat.CompatError) as e:
        compat.check_resume(meta(), meta(seed=3, dtypes=["float16"], max_examples=1))
    assert "and 2 more" in str(e.value) and "\n" not in str(e.value)


# ---- merge ----------------------------------------------------------------------------------------------

def shards(n: int, ks: list[int] | None = None) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    out = []
    for k in ks or range(1, n + 1):
        m = meta(shard=f"{k}/{n}", cases=3)
        recs = [rec(f"UPD-{k:02d}{i:010d}", a, seq=10 * i + k) for i in range(3) for a in ("reference", "torch-cpu")]
        out.append((m, recs))
    return out


def test_merge_of_every_shard_is_complete_and_in_order() -> None:
    runs = shards(3)
    merged, records = compat.merge_runs(runs)
    assert merged["complete"] is True and merged["shard"] is None and merged["missing_shards"] == []
    assert merged["cases"] == 9 and merged["merged_from"] == 3
    assert [a["cases_run"] for a in merged["adapters"]] == [30, 30]
    assert len(records) == 18
    assert [r["seq"] for r in records] == sorted(r["seq"] for r in records)
    assert [r["adapter"] for r in records[:2]] == ["reference", "torch-cpu"]


def test_merge_inputs_are_not_modified() -> None:
    runs = shards(2)
    before = copy.deepcopy(runs)
    compat.merge_runs(runs)
    assert runs == before


def test_a_missing_shard_makes_the_merge_incomplete() -> None:
    """One shard of two used to give complete: true."""
    info = compat.check_merge([m for m, _ in shards(3, [1, 3])])
    assert info.missing == (2,) and info.missing_labels() == ["2/3"] and not info.complete
    merged, _ = compat.merge_runs(shards(2, [2]))
    assert merged["complete"] is False and merged["missing_shards"] == ["1/2"]


def test_an_incomplete_shard_makes_the_merge_incomplete() -> None:
    runs = shards(2)
    runs[1][0]["complete"] = False
    assert compat.merge_runs(runs)[0]["complete"] is False


def test_the_same_shard_twice_is_refused() -> None:
    """It used to double the counts."""
    runs = shards(2, [1, 2, 1])
    with pytest.raises(compat.CompatError, match=r"shard 1/2 is given twice \(runs 1 and 3\)"):
        compat.merge_runs(runs)


def test_shards_of_different_splits_are_refused() -> None:
    with pytest.raises(compat.CompatError, match="different splits"):
        compat.check_merge([meta(shard="1/2"), meta(shard="2/3")])


def test_an_unsharded_run_among_shards_is_refused() -> None:
    with pytest.raises(compat.CompatError, match="run 2 is not a shard"):
        compat.check_merge([meta(shard="1/2"), meta(shard=None)])
    with pytest.raises(compat.CompatError, match="not a shard"):
        compat.check_merge([meta(), meta()])


def test_a_single_unsharded_run_merges_to_itself() -> None:
    info = compat.check_merge([meta()])
    assert info.complete and info.missing == ()


@pytest.mark.parametrize("bad", ["3/2", "0/2", "a/b", 2, "1/2/3"])
def test_a_malformed_shard_is_refused(bad: Any) -> None:
    with pytest.raises(compat.CompatError, match="run 1"):
        compat.check_merge([meta(shard=bad)])


@pytest.mark.parametrize("key", [k for k in CHANGES if k != "shard"])
def test_merge_refuses_mixed_configurations(key: str) -> None:
    a, b = meta(shard="1/2"), meta(shard="2/2", **CHANGES[key])
    with pytest.raises(compat.CompatError) as e:
        compat.check_merge([a, b])
    assert key in str(e.value) and "run 2" in str(e.value)


def test_merge_refuses_other_adapters_and_a_missing_run_json() -> None:
    b = meta(shard="2/2")
    b["adapters"] = b["adapters"][:1]
    with pytest.raises(compat.CompatError, match="adapters"):
        compat.check_merge([meta(shard="1/2"), b])
    with pytest.raises(compat.CompatError, match="not recorded"):
        compat.check_merge([meta(shard="1/2"), {"complete": False}])


def test_a_case_recorded_by_two_shards_is_refused() -> None:
    runs = shards(2)
    runs[1][1].append(dict(runs[0][1][0]))
    with pytest.raises(compat.CompatError, match="recorded by runs 1 and 2"):
        compat.merge_runs(runs)


def test_no_runs_is_refused() -> None:
    with pytest.raises(compat.CompatError):
        compat.check_merge([])


# ---- adapter names ---------------------------------------------------------------------------------------

def test_unique_adapter_names_are_fine() -> None:
    assert compat.duplicate_adapter_names(["reference", "torch-cpu"]) is None
    assert compat.duplicate_adapter_names([]) is None


def test_duplicate_adapter_names_are_one_line() -> None:
    msg = compat.duplicate_adapter_names(["mine", "reference", "mine"], ["a.py:Mine", "reference", "b.py:Mine"])
    assert msg is not None and "'mine'" in msg and "'a.py:Mine'" in msg and "'b.py:Mine'" in msg
    assert "\n" not in msg
    both = compat.duplicate_adapter_names(["x", "x", "y", "y"])
    assert both is not None and "also 'y'" in both
