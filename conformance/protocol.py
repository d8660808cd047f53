"""The one place where what a worker sent becomes an Outcome the judge may see -- or an adapter ERROR.

Everything is checked here, before judging: the outcome's kind and field types, ``w`` present for
every parameter at every step, ``m``/``v`` in ``w``'s shape, the steps' count, dtype names from the
suite's vocabulary, string lengths. A violation is the *adapter's* fault, reported as such (error
kind ``protocol``), never as the implementation's nonconformance -- and it costs that one (case,
adapter) record, never another adapter's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adapters.base import Outcome, Raised, Ran, StepState, Unsupported

from .cases import Case
from .dtypes import FORMATS

STAGES = ("construct", "step", "adapter")
MAX_TEXT = 2000
_BAD = "$bad"


class OutcomeError(ValueError):
    """The adapter's output breaks the protocol; the message says how (docs/adapters.md, the contract)."""


def _text(x: Any, what: str) -> str:
    if not isinstance(x, str):
        raise OutcomeError(f"{what} is a {type(x).__name__}, not a string")
    return x[:MAX_TEXT]


def _arr(x: Any, what: str, required: bool) -> np.ndarray | None:
    if x is None:
        if required:
            raise OutcomeError(f"{what} is missing (w is required at every step)")
        return None
    if isinstance(x, dict) and _BAD in x:
        raise OutcomeError(f"{what}: {str(x[_BAD])[:200]}")
    if not isinstance(x, np.ndarray):
        raise OutcomeError(f"{what} is not an array")
    return x


def outcome(wire: Any, case: Case) -> Outcome:
    """The validated Outcome of ``case`` from the worker's message; raises OutcomeError."""
    if not isinstance(wire, dict):
        raise OutcomeError("the outcome is not an object")
    kind = wire.get("kind")
    if kind == "unsupported":
        return Unsupported(_text(wire.get("reason"), "Unsupported.reason"))
    if kind == "raised":
        stage = wire.get("stage")
        if stage not in STAGES:
            raise OutcomeError(f"Raised.stage is {str(stage)[:40]!r}; expected one of {', '.join(STAGES)}")
        step = wire.get("step")
        if step is not None and (type(step) is not int or step < 0):
            raise OutcomeError("Raised.step is not a non-negative integer or None")
        return Raised(_text(wire.get("type"), "Raised.type"), _text(wire.get("message"), "Raised.message"), stage, step)
    if kind == "bad":
        raise OutcomeError(_text(wire.get("what"), "the outcome"))
    if kind != "ran":
        raise OutcomeError(f"unknown outcome kind {str(kind)[:40]!r}")
    return _ran(wire, case)


def _ran(wire: dict[str, Any], case: Case) -> Ran:
    steps_in = wire.get("steps")
    if not isinstance(steps_in, list):
        raise OutcomeError("Ran.steps is not a list")
    if case.kind == "steps" and len(steps_in) != case.num_steps:
        raise OutcomeError(f"Ran.steps holds {len(steps_in)} steps for the case's {case.num_steps} updates")
    shapes = {p.name: tuple(p.shape) for p in case.params}
    steps: list[dict[str, StepState]] = []
    for i, row in enumerate(steps_in):
        if isinstance(row, dict) and _BAD in row:
            raise OutcomeError(f"step {i + 1}: {str(row[_BAD])[:200]}")
        if not isinstance(row, dict):
            raise OutcomeError(f"step {i + 1} is not a mapping of parameter name -> StepState")
        missing = [n for n in shapes if n not in row]
        if missing:
            raise OutcomeError(f"step {i + 1} reports no state for {[n[:60] for n in missing[:4]]} (every parameter "
                               "of the case is required at every step: nothing unreported passes)")
        got: dict[str, StepState] = {}
        for name, st in row.items():
            where = f"step {i + 1}, {name[:60]!r}"
            if isinstance(st, dict) and _BAD in st:
                raise OutcomeError(f"{where}: {str(st[_BAD])[:200]}")
            if not isinstance(st, dict):
                raise OutcomeError(f"{where}: not a StepState")
            w = _arr(st.get("w"), f"{where}: w", True)
            assert w is not None
            if name in shapes and w.shape != shapes[name]:
                raise OutcomeError(f"{where}: w has shape {list(w.shape)}, the parameter's is {list(shapes[name])}")
            m = _arr(st.get("m"), f"{where}: m", False)
            v = _arr(st.get("v"), f"{where}: v", False)
            for q, a in (("m", m), ("v", v)):
                if a is not None and a.shape != w.shape:
                    raise OutcomeError(f"{where}: {q} has shape {list(a.shape)}, w has {list(w.shape)} "
                                       "(moments are in the parameter's shape)")
            got[name] = StepState(w, m, v)
        steps.append(got)
    dtypes = wire.get("dtypes")
    if not isinstance(dtypes, dict) or _BAD in dtypes:
        raise OutcomeError("Ran.dtypes is not a mapping of parameter name -> dtype name")
    for name, d in dtypes.items():
        if isinstance(d, dict) and _BAD in d:
            raise OutcomeError(f"Ran.dtypes[{name[:60]!r}] is {str(d[_BAD])[:80]}, not a dtype name")
        if d not in FORMATS:
            raise OutcomeError(f"Ran.dtypes[{name[:60]!r}] = {str(d)[:40]!r} is not one of the suite's dtype names "
                               f"({', '.join(FORMATS)}); map the library's dtype to its name")
    return Ran(steps, dict(dtypes))


def described(msg: Any, spec: str) -> dict[str, Any]:
    """A worker's self-description, validated; a malformed one is a load error for that adapter."""
    bad = {"spec": spec, "name": spec, "available": False, "load_error": True, "error_kind": "load"}
    if not isinstance(msg, dict) or msg.get("type") != "described":
        return {**bad, "reason": "the worker answered describe with something else"}
    if msg.get("load_error"):
        return {**bad, "reason": str(msg.get("reason", "loading failed"))[:MAX_TEXT]}
    name = msg.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        return {**bad, "reason": "the adapter's name is not a non-empty string of at most 200 characters"}
    out: dict[str, Any] = {"spec": spec, "name": name, "available": bool(msg.get("available") is True),
                           "reason": str(msg.get("reason") or "")[:MAX_TEXT]}
    if not out["available"]:
        return out
    info = msg.get("info")
    try:
        out["info"] = _info(info)
    except OutcomeError as e:
        return {**bad, "name": name, "error_kind": "protocol",
                "reason": f"info() breaks the protocol (an adapter bug, not the implementation's nonconformance): {e}"}
    return out


def _info(info: Any) -> dict[str, Any]:
    from adapters.base import Support

    from .clauses import BY_ID

    if not isinstance(info, dict):
        raise OutcomeError("no AdapterInfo")
    dtypes = info.get("dtypes")
    if not isinstance(dtypes, list) or not all(isinstance(d, str) for d in dtypes):
        raise OutcomeError("dtypes is not a sequence of dtype names")
    unknown = [d for d in dtypes if d not in FORMATS]
    if unknown:
        raise OutcomeError(f"unknown dtype name(s) {unknown[:4]}; use the suite's: {', '.join(FORMATS)}")
    support = info.get("support")
    if not isinstance(support, dict):
        raise OutcomeError("support is not a mapping")
    values = {s.value for s in Support}
    for k, v in support.items():
        if k not in BY_ID:
            raise OutcomeError(f"support names an unknown clause {k[:40]!r}")
        if v not in values:
            raise OutcomeError(f"support[{k}] = {str(v)[:40]!r}; expected one of {', '.join(sorted(values))}")
    versions = info.get("versions")
    notes = info.get("notes")
    if not isinstance(versions, dict) or not isinstance(notes, dict):
        raise OutcomeError("versions and notes must be mappings")
    return {"name": str(info.get("name", ""))[:200], "description": str(info.get("description", ""))[:MAX_TEXT],
            "versions": {str(k)[:80]: str(v)[:80] for k, v in versions.items()},
            "device": str(info.get("device"))[:200],
            "dtypes": list(dict.fromkeys(dtypes)), "support": dict(support),
            "notes": {str(k)[:40]: str(v)[:MAX_TEXT] for k, v in notes.items()}}
