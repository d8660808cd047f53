"""The order a worker gets its cases in (``runner.send_order``): case order, with the few heavy cases
spread evenly through it -- every case exactly once, and the light ones in case order."""

from __future__ import annotations

from types import SimpleNamespace

from conformance import runner


def _case(steps: int, shape: tuple[int, ...] = (3,)) -> SimpleNamespace:
    return SimpleNamespace(num_steps=steps, params=[SimpleNamespace(shape=shape)])


def test_heavy_cases_are_spread_evenly() -> None:
    cases = [_case(5) for _ in range(100)]
    heavy = [10, 11, 12]  # generated together, as the long horizons are
    for i in heavy:
        cases[i] = _case(3000)
    order = runner.send_order(cases, list(range(100)))
    assert sorted(order) == list(range(100))
    light = [i for i in order if i not in heavy]
    assert light == sorted(light)
    pos = [order.index(i) for i in heavy]
    assert pos == sorted(pos)
    gaps = [b - a for a, b in zip([-1, *pos], [*pos, 100])]
    assert min(gaps) >= 20 and max(gaps) <= 30, gaps  # 97 light cases in four runs of about 24


def test_nothing_heavy_keeps_case_order() -> None:
    cases = [_case(5 + i % 3) for i in range(60)]
    assert runner.send_order(cases, list(range(0, 60, 2))) == list(range(0, 60, 2))


def test_work_counts_elements() -> None:
    assert runner.work(_case(10, (4096,))) == 20.0  # ten updates of 4096 elements: twice ten of a handful
    assert runner.work(_case(10, (1,))) == 10 * (1 + 1 / 4096)
    assert runner.work(_case(0)) == runner.work(_case(1))
