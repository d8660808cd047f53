"""``cases.from_json`` checks a case once and cheaply (the case-set cache loads ~950 of them per run):
the ID it gives a case is the hash of that case's content, computed from the same encoding that
checks the case is JSON data, and an edit of the content under a kept ``id`` is still refused. The
tensor checks refuse what ``param_values()``/``gradients()`` refuse, with the same messages."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from conformance import cases
from conformance.cases import Case, CaseFormatError, from_json
from conformance.corpus import corpus_cases
from conformance.generate import generate
from conformance.validation_cases import ACCEPTANCES, acceptance_case, refusals

BASE: dict[str, Any] = {
    "format": "adam-conformance/case@1", "kind": "steps", "clauses": ["UPD-MOMENTS"], "dtype": "float32",
    "params": [{"name": "w0", "shape": [2], "values": [0.5, -1.0]},
               {"name": "e", "shape": [3, 2], "values": {"$random": {"seed": 2}}}],
    "hyper": {"learning_rate": 0.1}, "groups": None,
    "grads": [{"w0": {"dense": [0.25, 0.5]}, "e": {"sparse": {"indices": [2, 0], "values": [[1, 2], [3, 4.5]]}}},
              {"w0": {"dense": [-0.25, 1.0]}, "e": {"dense": [[1, 2], [3, 4], [5, 6]]}}],
}


def with_(**changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(BASE)
    d.update(changes)
    return d


def recomputed(case: Case) -> str:
    given = case.id
    del case.__dict__["id"]
    assert case.id == given  # the cached_property again, from case.payload()
    return given


def canonical(case: Case) -> str:
    return json.dumps(case.payload(), sort_keys=True, separators=(",", ":"), allow_nan=False)


def variants() -> list[dict[str, Any]]:
    out = [c.to_json() for c in generate(["UPD-MOMENTS", "VAL-GROUP", "LR-SCHEDULE", "DEC-L2"],
                                         ["float32", "bfloat16"], 5, 2)]
    out += [c.to_json() for c in corpus_cases()]
    out += [c.to_json() for c in (*refusals("VAL-GROUP", "float16"), *refusals("VAL-PARAM-TYPE", "float32"),
                                  *(acceptance_case(a, "float64") for a in ACCEPTANCES))]
    out += [copy.deepcopy(BASE), {k: v for k, v in BASE.items() if k not in ("kind", "hyper", "groups")},
            with_(title="caf\u00e9"), with_(title="\U0001f600 astral"), with_(params_arg=None), with_(kind="construct"),
            with_(hyper={"learning_rate": 0.1, "eps": float("inf")}),  # a Python inf: canonicalized to its tag
            with_(params=[{"name": "w0", "shape": [2], "values": [0.5, -1.0], "note": 1},
                          {"name": "e", "shape": [3, 2], "values": {"$random": {"seed": 2}}}]),  # dropped by payload()
            with_(note={"top": "level"}), with_(clauses=["UPD-MOMENTS", "DEC-L2"], title="\\ud800 is text")]
    return out


def test_every_case_gets_the_id_of_its_content() -> None:
    shared = 0
    for d in variants():
        case = from_json(copy.deepcopy(d))
        assert recomputed(case) == case.id
        if "id" in d:
            assert d["id"] == case.id
        text = cases._plain(copy.deepcopy(d), "x")[1]
        assert text is None or text == canonical(case)
        shared += text is not None
    assert shared > 0.9 * len(variants())  # the shared encoding is the common path


@pytest.mark.parametrize("edit", ["number", "shape and values", "clause", "dtype", "kind", "lr", "sparse row",
                                  "parameter name", "number type"])
def test_an_edit_under_a_kept_id_is_refused(edit: str) -> None:
    d = from_json(copy.deepcopy(BASE)).to_json()
    if edit == "number":
        d["grads"][1]["w0"]["dense"][1] = 1.0000000000000002
    elif edit == "shape and values":
        d["params"][0] = {"name": "w0", "shape": [1, 2], "values": [[0.5, -1.0]]}
        d["grads"] = [{**s, "w0": {"dense": [s["w0"]["dense"]]}} for s in d["grads"]]
    elif edit == "clause":
        d["clauses"] = ["UPD-MOMENTS", "DEC-L2"]
    elif edit == "dtype":
        d["dtype"] = "float64"
    elif edit == "kind":
        d["kind"] = "construct"
    elif edit == "lr":
        d["hyper"]["learning_rate"] = 0.2
    elif edit == "sparse row":
        d["grads"][0]["e"]["sparse"]["indices"] = [1, 0]
    elif edit == "parameter name":
        d["params"][0]["name"] = "w1"
        d["grads"] = [{("w1" if k == "w0" else k): v for k, v in s.items()} for s in d["grads"]]
    else:
        d["grads"][1]["w0"]["dense"] = [-0.25, 1]  # 1.0 -> the int 1: the same number, not the same JSON
    with pytest.raises(CaseFormatError, match="does not match the content"):
        from_json(d, "cache:3")


def test_edits_outside_the_content_keep_the_id() -> None:
    d = from_json(copy.deepcopy(BASE)).to_json()
    for changed in ({**d, "title": "renamed"}, dict(reversed(list(d.items()))), {**d, "note": [1, 2]}):
        assert from_json(changed).id == d["id"]


def test_what_check_plain_refuses_is_refused_the_same_way() -> None:
    """The shared encoding hands anything it cannot encode to check_plain, whose messages stand."""
    for bad, match in ((with_(grads=[{"w0": {"dense": [float("nan"), 1.0]}, "e": {"dense": [[1, 2]] * 3}}]),
                        "non-finite"),
                       (with_(title=object()), "not JSON data"),
                       (with_(params_arg=["\ud800"]), "unpaired surrogate")):
        with pytest.raises(CaseFormatError, match=match):
            from_json(bad)


BAD_VALUES: dict[str, tuple[dict[str, Any], str]] = {
    "strings": (with_(params=[{"name": "w0", "shape": [2], "values": ["a", "b"]}, BASE["params"][1]]),
                "params[w0]: values must be numbers, got strings"),
    "booleans": (with_(params=[{"name": "w0", "shape": [2], "values": [True, False]}, BASE["params"][1]]),
                 "params[w0]: values must be numbers, got booleans"),
    "ragged": (with_(params=[{"name": "w0", "shape": [2], "values": [[1.0], [2.0, 3.0]]}, BASE["params"][1]]),
               "params[w0]: values must be numbers in a (nested) list of one shape"),
    "too many": (with_(params=[{"name": "w0", "shape": [2], "values": [1.0, 2.0, 3.0]}, BASE["params"][1]]),
                 "params[w0]: 3 values do not fit shape [2]"),
    "reshaped fits": (with_(params=[BASE["params"][0], {"name": "e", "shape": [3, 2], "values": [1, 2, 3, 4, 5, 6]}]),
                      ""),
    "bad recipe": (with_(params=[BASE["params"][0], {"name": "e", "shape": [3, 2], "values": {"$random": {"x": 1}}}]),
                   "params[e]: a recipe is"),
    "dense null": (with_(grads=[{"w0": {"dense": [None, 1.0]}, "e": {"dense": [[1, 2]] * 3}}]),
                   "grads[0][w0]: values must be numbers, got mixed or non-numeric values"),
    "dense too few": (with_(grads=[{"w0": {"dense": [1.0]}, "e": {"dense": [[1, 2]] * 3}}]),
                      "grads[0][w0]: 1 values do not fit shape [2]"),
    "sparse rows": (with_(grads=[{"w0": {"dense": [1.0, 2.0]}, "e": {"sparse": {"indices": [0, 1],
                                                                                 "values": [[1, 2]]}}}]),
                    "grads[0][e]: 2 values do not fit shape [2, 2]"),
    "sparse recipe": (with_(grads=[{"w0": {"dense": [1.0, 2.0]}, "e": {"sparse": {"indices": [0],
                                                                                   "values": {"$random": {}}}}}]),
                      ""),
    "33 dimensions": (with_(params=[{"name": "w0", "shape": [1], "values": json.loads("[" * 33 + "1" + "]" * 33)},
                                    BASE["params"][1]]), "params[w0]: 33 dimensions; at most 32"),
}


@pytest.mark.parametrize("name", list(BAD_VALUES))
def test_tensor_checks_refuse_what_materializing_refuses(name: str) -> None:
    d, message = BAD_VALUES[name]
    specs = [cases.ParamSpec(p["name"], tuple(p["shape"]), p["values"]) for p in d["params"]]
    built = Case(tuple(d["clauses"]), d["dtype"], tuple(specs), grads=tuple(d["grads"]))

    def materialize() -> None:  # what from_json did before: make every array once
        built.param_values()
        for t in range(built.num_steps):
            built.gradients(t)

    if not message:
        materialize()
        assert from_json(d).num_steps == len(d["grads"])
        return
    with pytest.raises(CaseFormatError) as old:
        materialize()
    with pytest.raises(CaseFormatError) as new:
        from_json(d)
    # the same message, prefixed with the file it came from ("case" when there is none)
    assert str(new.value) == f"case: {old.value}" and str(new.value).startswith(f"case: {message}"), str(new.value)


def test_trusted_builds_the_case_to_json_wrote() -> None:
    """A worker builds its request's case with ``cases.trusted`` (no second validation): for every kind of
    case the gate sends -- generated steps and validation cases, corpus cases -- it is the same case, with
    the same id and the same JSON."""
    clauses = ["UPD-MOMENTS", "UPD-EPS", "GRP-LR", "SPR-DECAY", "LR-SCHEDULE", "VAL-GROUP"]
    sample = generate(clauses, ["float32", "bfloat16"], 0, 2)
    sample += corpus_cases()[:20]
    assert len(sample) > 30
    for case in sample:
        got = cases.trusted(json.loads(json.dumps(case.to_json())))  # as it arrives: through JSON
        assert got == case and got.id == case.id and got.to_json() == case.to_json(), case.id
