"""``adam-conformance selftest`` kills every fault in the shipped zoo and never flags a faithful member.

The zoo is what the published kill rate is measured on, so this test pins both its size (at least 40
faults, every clause family, every dtype, the generic torch and optax adapters exercised) and its
result: 100% killed, 0 false alarms, through the gate's real machinery (``gate.run``). The selftest
runs 52 adapters in 10 gate runs: about 220 s of CPU (two cores: ~2 minutes idle, 6 minutes on a
loaded machine), hence ``slow``.
"""

from __future__ import annotations

import pytest

from conformance.clauses import BY_ID, FAMILIES
from conformance.dtypes import NAMES
from conformance.selftest import BATCH, SelftestResult, batches, render, selftest
from conformance.zoo import numpy_faults
from conformance.zoo.catalog import members

MAX_EXAMPLES = 2  # the CLI's default is 3; 2 already kills every fault (see docs/error-model.md)


def test_zoo_spans_every_family_and_backend() -> None:
    zoo = members()
    faults = [m for m in zoo if not m.faithful]
    assert len(faults) >= 40
    assert {m.family for m in faults} == set(FAMILIES)
    assert {m.backend for m in faults} == {"numpy", "torch", "optax"}
    assert all(m.clause in BY_ID for m in faults)
    assert len({m.spec for m in zoo}) == len(zoo)
    dtypes = {d for cls in numpy_faults.FAULTS for d in cls.dtypes}
    assert dtypes == set(NAMES)
    assert {m.backend for m in zoo if m.faithful} == {"numpy", "torch", "optax"}
    assert all(len(ms) <= BATCH for _, ms in batches(zoo))


@pytest.fixture(scope="module")
def result() -> SelftestResult:
    return selftest(max_examples=MAX_EXAMPLES, seed=0)


@pytest.mark.slow
def test_selftest_kills_every_fault(result: SelftestResult) -> None:
    text = render(result)
    assert not [f.name for f in result.faults if f.unavailable], text
    missed = [f"{f.name} ({f.member.clause})" for f in result.faults if not f.killed]
    assert not missed, f"faults the gate lets through: {missed}\n{text}"
    assert result.kill_rate == 1.0


@pytest.mark.slow
def test_selftest_raises_no_false_alarm(result: SelftestResult) -> None:
    alarms = [f"{f.name}: {a.case_id} {a.verdict} {a.message}" for f in result.faithful for a in f.alarms]
    assert not alarms, "\n".join(alarms)
    assert all(f.judged > 0 for f in result.faithful)
    assert result.ok


@pytest.mark.slow
def test_selftest_margins_leave_room(result: SelftestResult) -> None:
    """Per dtype: the faithful members stay below ratio 1, the weakest catch above it."""
    margins = result.margins()
    assert {m.dtype for m in margins} == set(NAMES)
    for m in margins:
        assert m.faithful_max is not None and m.faithful_max < 1.0, m
        assert m.fault_min is not None and m.fault_min > 1.0, m
    assert "kill rate 100%" in render(result)
