"""Case loading (issue 8): every malformed file is one CaseFormatError line, refused before any work.

Hand-picked hostile inputs (NaN literals, other encodings, runaway nesting, bad recipes and tags,
unknown schedules, sizes of 10^9+ elements, 70-d shapes) and a hypothesis fuzz of the loader:
"CaseFormatError with a one-line message, or a valid case" -- never another exception. A few go
through the CLI (`replay FILE --adapter reference` exits 2 with one line).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.cases import MAX_FILE_BYTES, Case, CaseFormatError, decode_text, from_json, load
from conformance.validation_cases import ACCEPTANCES, acceptance_case, refusals

BASE: dict[str, Any] = {
    "format": "adam-conformance/case@1", "kind": "steps", "clauses": ["UPD-MOMENTS"], "dtype": "float32",
    "params": [{"name": "w0", "shape": [2], "values": [0.5, -1.0]}],
    "hyper": {"learning_rate": 0.1}, "groups": None,
    "grads": [{"w0": {"dense": [0.25, 0.5]}}, {"w0": {"dense": [-0.25, 1.0]}}],
}


def case_with(**changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(BASE)
    d.update(changes)
    return d


def _deep(n: int) -> str:
    return "[" * n + "]" * n


def _nested(depth: int) -> Any:
    v: Any = 0.0
    for _ in range(depth):
        v = [v]
    return v


BAD_TEXT: dict[str, bytes] = {
    "NaN literal": b'{"format": "adam-conformance/case@1", "hyper": {"eps": NaN}}',
    "Infinity literal": json.dumps(case_with(hyper={"learning_rate": 1.0})).replace("1.0", "Infinity").encode(),
    "-Infinity literal": b'[-Infinity]',
    "UTF-16 with BOM": json.dumps(BASE).encode("utf-16"),
    "UTF-16-LE without BOM": json.dumps(BASE).encode("utf-16-le"),
    "latin-1 byte": json.dumps(case_with(title="caf\u00e9"), ensure_ascii=False).encode("latin-1"),
    "100,000-deep nesting": _deep(100_000).encode(),
    "100-deep nesting": json.dumps(case_with(hyper={"learning_rate": _nested(100)})).encode(),
    "integer of 5000 digits": b'{"a": ' + b"9" * 5000 + b"}",
    "not JSON": b"{'format': 1}",
    "empty file": b"",
    "lone surrogate": json.dumps(case_with(title="\ud800")).encode(),
}

BAD_CASES: dict[str, dict[str, Any]] = {
    "not an object": [1, 2],  # type: ignore[dict-item]
    "$random not a dict": case_with(params=[{"name": "w0", "shape": [2], "values": {"$random": 5}}]),
    "$random negative seed": case_with(params=[{"name": "w0", "shape": [2], "values": {"$random": {"seed": -1}}}]),
    "$random string scale": case_with(params=[{"name": "w0", "shape": [2],
                                               "values": {"$random": {"scale": "big"}}}]),
    "$random unknown key": case_with(params=[{"name": "w0", "shape": [2], "values": {"$random": {"mean": 1}}}]),
    "$random 10^9 elements": case_with(params=[{"name": "w0", "shape": [1000, 1000, 1000],
                                                "values": {"$random": {"seed": 1}}}], grads=[]),
    "$random 10^10 in gradients": case_with(params=[{"name": "w0", "shape": [100000],
                                                     "values": {"$random": {}}}],
                                            grads=[{"w0": {"dense": {"$random": {}}}}] * 100000),
    "shape [10^5, 10^5]": case_with(params=[{"name": "w0", "shape": [100000, 100000], "values": []}], grads=[]),
    "shape with a 10^30 dim and a 0": case_with(params=[{"name": "w0", "shape": [0, 10**30], "values": []}],
                                                grads=[]),
    "70-d shape": case_with(params=[{"name": "w0", "shape": [1] * 70, "values": [0.5]}], grads=[]),
    "40-d explicit values": case_with(params=[{"name": "w0", "shape": [1] * 40, "values": _nested(40)}],
                                      grads=[]),
    "bool in shape": case_with(params=[{"name": "w0", "shape": [True], "values": [0.5]}], grads=[]),
    "string values": case_with(params=[{"name": "w0", "shape": [2], "values": ["0.5", "1"]}], grads=[]),
    "ragged values": case_with(params=[{"name": "w0", "shape": [2, 2], "values": [[1.0], [1.0, 2.0]]}], grads=[]),
    "repeated names": case_with(params=[{"name": "w0", "shape": [], "values": 1.0}] * 2, grads=[]),
    "$float bad": case_with(hyper={"eps": {"$float": "huge"}}),
    "$float not a string": case_with(hyper={"eps": {"$float": [1]}}),
    "$tensor of strings": case_with(hyper={"learning_rate": {"$tensor": ["a"]}}),
    "$tensor ragged": case_with(hyper={"learning_rate": {"$tensor": [[1.0], [1.0, 2.0]]}}),
    "$tensor with extra key": case_with(hyper={"learning_rate": {"$tensor": 0.1, "dtype": "float16"}}),
    "unknown tag": case_with(hyper={"learning_rate": {"$lambda": "0.1"}}),
    "unknown schedule": case_with(hyper={"learning_rate": {"$schedule": "StepLR", "args": {}}}),
    "schedule arg missing": case_with(hyper={"learning_rate": {"$schedule": "WarmUpLR",
                                                               "args": {"learning_rate": 0.1}}}),
    "schedule arg zero steps": case_with(hyper={"learning_rate": {"$schedule": "WarmUpLR", "args": {
        "learning_rate": 0.1, "warmup_steps": 0}}}),
    "schedule args not a dict": case_with(hyper={"learning_rate": {"$schedule": "WarmUpLR", "args": [1]}}),
    "unknown dynamic_lr": case_with(hyper={"learning_rate": {"$dynamic_lr": "step_lr", "args": {}}}),
    "dynamic_lr of 10^9 values": case_with(hyper={"learning_rate": {"$dynamic_lr": "warmup_lr", "args": {
        "learning_rate": 0.1, "total_step": 10**9, "step_per_epoch": 1, "warmup_epoch": 1}}}),
    "piecewise milestones decreasing": case_with(hyper={"learning_rate": {"$dynamic_lr": "piecewise_constant_lr",
                                                                          "args": {"milestone": [5, 2],
                                                                                   "learning_rates": [0.1, 0.2]}}}),
    "lr sequence shorter than the steps": case_with(hyper={"learning_rate": [0.1]}),
    "sparse index out of range": case_with(params=[{"name": "e", "shape": [2, 1], "values": [[1.0], [2.0]]}],
                                           grads=[{"e": {"sparse": {"indices": [5], "values": [[1.0]]}}}]),
    "sparse float index": case_with(params=[{"name": "e", "shape": [2, 1], "values": [[1.0], [2.0]]}],
                                    grads=[{"e": {"sparse": {"indices": [0.5], "values": [[1.0]]}}}]),
    "sparse without values": case_with(params=[{"name": "e", "shape": [2, 1], "values": [[1.0], [2.0]]}],
                                       grads=[{"e": {"sparse": {"indices": [0]}}}]),
    "sparse on a 0-d parameter": case_with(params=[{"name": "e", "shape": [], "values": 1.0}],
                                           grads=[{"e": {"sparse": {"indices": [0], "values": [1.0]}}}]),
    "sparse values of the wrong shape": case_with(params=[{"name": "e", "shape": [2, 2], "values": [[1, 2], [3, 4]]}],
                                                  grads=[{"e": {"sparse": {"indices": [0], "values": [1.0]}}}]),
    "gradient with both forms": case_with(grads=[{"w0": {"dense": [1.0, 1.0], "sparse": {}}}]),
    "group naming an unknown parameter": case_with(groups=[{"params": ["w9"]}]),
    "group without params": case_with(groups=[{"lr": 0.1}]),
    "group params not names": case_with(groups=[{"params": [1]}]),
    "params_arg naming an unknown parameter": case_with(kind="construct", params_arg=[{"$param": "w9"}]),
    "$param not a string": case_with(kind="construct", params_arg=[{"$param": 3}]),
    "$iter not a list": case_with(kind="construct", params_arg={"$iter": 3}),
    "$none not true": case_with(kind="construct", params_arg={"$none": 1}),
    "too many steps": case_with(params=[{"name": "w0", "shape": [0], "values": []}],
                                grads=[{"w0": {"dense": []}}] * 100_001),
    "non-finite float in values": case_with(params=[{"name": "w0", "shape": [2], "values": [0.5, float("nan")]}]),
    "non-finite float in a top-level list": [float("inf")],  # type: ignore[dict-item]
    "edited id": case_with(id="UPD-000000000000"),
}


def _assert_one_line(e: CaseFormatError) -> None:
    text = str(e)
    assert text and "\n" not in text and "\r" not in text, repr(text)
    assert len(text) < 400, text


@pytest.mark.parametrize("name", list(BAD_TEXT))
def test_bad_bytes_are_one_line(name: str) -> None:
    with pytest.raises(CaseFormatError) as info:
        from_json(decode_text(BAD_TEXT[name], "f.json"), "f.json")
    _assert_one_line(info.value)


@pytest.mark.parametrize("name", list(BAD_CASES))
def test_bad_cases_are_one_line(name: str) -> None:
    with pytest.raises(CaseFormatError) as info:
        from_json(BAD_CASES[name], "f.json")
    _assert_one_line(info.value)


def test_the_base_case_is_valid() -> None:
    """The hostile variants above differ from a valid case in the one field they name."""
    case = from_json(copy.deepcopy(BASE))
    assert case.num_steps == 2 and from_json(json.loads(case.dumps())).id == case.id


def test_python_non_finite_hyperparameters_are_their_float_tags() -> None:
    """A real inf/nan in an argument field (a Python caller, or a wire that decodes the tag) means the tag."""
    tagged = from_json(case_with(hyper={"eps": {"$float": "inf"}, "learning_rate": 0.1}))
    real = from_json(case_with(hyper={"eps": float("inf"), "learning_rate": 0.1}))
    assert real.id == tagged.id and real.hyperparameters()["eps"] == float("inf")


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk, no read
    with pytest.raises(CaseFormatError, match="at most") as info:
        load(big)
    _assert_one_line(info.value)


@pytest.mark.parametrize("target", ["missing.json", "."])
def test_unreadable_paths(tmp_path: Path, target: str) -> None:
    with pytest.raises(CaseFormatError) as info:
        load(tmp_path / target)
    _assert_one_line(info.value)


def test_validation_and_acceptance_cases_round_trip() -> None:
    cases = [*refusals("VAL-GROUP", "bfloat16"), *refusals("VAL-PARAM-TYPE", "float16"),
             *(acceptance_case(a, "float32") for a in ACCEPTANCES)]
    for case in cases:
        again = from_json(json.loads(case.dumps()))
        assert again.id == case.id and again.title == case.title


# ---- fuzz ---------------------------------------------------------------------------------------

SEEDS: list[dict[str, Any]] = [copy.deepcopy(BASE), json.loads(acceptance_case(ACCEPTANCES[-1], "float16").dumps()),
                               json.loads(refusals("VAL-GROUP", "float32")[-1].dumps()),
                               case_with(params=[{"name": "e", "shape": [3, 2], "values": {"$random": {"seed": 2}}}],
                                         grads=[{"e": {"sparse": {"indices": [2, 0, 2], "values": [[1, 2]] * 3}}}],
                                         hyper={"learning_rate": {"$schedule": "CosineDecayLR", "args": {
                                             "min_lr": 0.0, "max_lr": 0.1, "decay_steps": 2}}})]

json_leaves = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
                        st.text(max_size=8), st.sampled_from(["$random", "$float", "$tensor", "$schedule",
                                                              "$dynamic_lr", "$param", "$iter", "$none", "nan",
                                                              "w0", "e", "dense", "sparse"]))
json_values = st.recursive(json_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(
        ["$random", "$float", "$tensor", "$schedule", "$param", "$iter", "$none", "args", "seed", "scale",
         "indices", "values", "dense", "sparse", "params", "lr", "name", "shape", "x"]), inner, max_size=3)),
    max_leaves=12)


def _paths(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*path, i))
    return out


@st.composite
def mutated_cases(draw: st.DrawFn) -> Any:
    """A valid case with a few subtrees replaced by arbitrary JSON-like data (or deleted)."""
    d = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(d)
        path = draw(st.sampled_from(paths))
        if not path:
            return draw(json_values)
        parent = d
        for k in path[:-1]:
            parent = parent[k]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return d


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(mutated_cases())
def test_fuzz_loader_gives_a_case_or_one_line(data: Any) -> None:
    try:
        case = from_json(data, "fuzz")
    except CaseFormatError as e:
        _assert_one_line(e)
        return
    assert isinstance(case, Case)
    case.hyperparameters()  # decoding a loaded case must not raise
    case.param_groups()
    case.raw_params_arg()


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.one_of(st.binary(max_size=64), st.sampled_from(SEEDS).map(lambda d: json.dumps(d).encode()).flatmap(
    lambda b: st.tuples(st.integers(0, len(b) - 1), st.binary(min_size=1, max_size=3)).map(
        lambda ib: b[:ib[0]] + ib[1] + b[ib[0] + 1:]))))
def test_fuzz_bytes_give_a_case_or_one_line(raw: bytes) -> None:
    try:
        from_json(decode_text(raw, "fuzz"), "fuzz")
    except CaseFormatError as e:
        _assert_one_line(e)


# ---- the CLI: exit 2, one line, before any work --------------------------------------------------

CLI_BAD = ["NaN literal", "100,000-deep nesting"]
CLI_BAD_CASES = ["$random 10^9 elements", "70-d shape"]


def _replay(path: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from conformance.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, "replay", str(path), "--adapter", "reference"],
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=120)


def test_replay_of_bad_files_exits_2_with_one_line(tmp_path: Path) -> None:
    files = []
    for name in CLI_BAD:
        files.append(tmp_path / f"t{len(files)}.json")
        files[-1].write_bytes(BAD_TEXT[name])
    for name in CLI_BAD_CASES:
        files.append(tmp_path / f"t{len(files)}.json")
        files[-1].write_text(json.dumps(BAD_CASES[name]))
    for f in files:
        proc = _replay(f)
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert proc.returncode == 2, (f.read_bytes()[:80], proc.stderr[-2000:])
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert proc.stdout.strip() == "", proc.stdout[-500:]
