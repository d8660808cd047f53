"""The clause catalog: every clause ID of SPEC-NOTES section 2, with the seed sentence it comes from.

Written beside each clause, test262-style: its family, the seed text it stands on, and the
interpretation notes that fix how the seed is read where it is silent. Reports group by these IDs.
"""

from __future__ import annotations

import fnmatch
from typing import NamedTuple

SPEC = "mindspore.nn.Adam (MindSpore 2.10 API page) + SPEC-NOTES"
SPEC_VERSION = "seed-nn-adam/1"


class Clause(NamedTuple):
    id: str
    family: str
    title: str
    seed: str
    notes: str = ""


FAMILIES = {
    "UPD": "Update",
    "DEC": "Decay",
    "GRP": "Groups",
    "LR": "Learning rate",
    "SPR": "Sparse",
    "VAL": "Validation",
}

_UPDATE = "m_{t+1} = beta1*m_t + (1-beta1)*g; v_{t+1} = beta2*v_t + (1-beta2)*g*g"

CLAUSES: tuple[Clause, ...] = (
    Clause("UPD-MOMENTS", "UPD", "first and second moments, zero-initialised", _UPDATE,
           "State starts at zero; compared after every step."),
    Clause("UPD-BIAS", "UPD", "bias correction in the step size, t from 1",
           "l = alpha * sqrt(1-beta2^t) / (1-beta1^t); t represents the current step",
           "t = 1 for the first update and advances once per update."),
    Clause("UPD-EPS", "UPD", "epsilon-hat placement of eps",
           "w_{t+1} = w_t - l * m_{t+1} / (sqrt(v_{t+1}) + eps)",
           "eps is added to sqrt of the uncorrected v; adding it after bias correction is a deviation."),
    Clause("UPD-NESTEROV", "UPD", "use_nesterov numerator",
           "use_nesterov (bool) - Whether to use Nesterov Accelerated Gradient (NAG) algorithm",
           "Seed gives no formula: numerator beta1*m_t + (1-beta1)*g with the updated m_t, v_t (MindSpore)."),
    Clause("UPD-DTYPE", "UPD", "dtype and shape kept; finite where the reference is finite",
           "gradients (tuple[Tensor]) - The gradients of params, the shape is the same as params.",
           "Dtypes are not in the seed: each adapter is tested in the dtypes it declares."),
    Clause("DEC-L2", "DEC", "coupled L2 decay with w before the step",
           "weight_decay (float) - Weight decay (L2 penalty).",
           "g + weight_decay*w enters both moments (coupled), with w before the update."),
    Clause("DEC-FILTER", "DEC", "ungrouped: no decay for names containing beta/gamma",
           "If parameters are not grouped, the weight_decay in optimizer will be applied on the network "
           "parameters without 'beta' or 'gamma' in their names.",
           "Case-sensitive substring of Parameter.name."),
    Clause("DEC-GROUP", "DEC", "grouped: per-group weight_decay, no name filter",
           "When parameters are grouped, each group can set weight_decay, if not, the weight_decay in "
           "optimizer will be applied.",
           "No beta/gamma filter for grouped parameters (MindSpore)."),
    Clause("DEC-LOSS-SCALE", "DEC", "loss_scale divides gradients, not decay",
           "loss_scale (float) - A floating point value for the loss scale.",
           "Effective gradient g/loss_scale + weight_decay*w (MindSpore pre-multiplies decay by loss_scale)."),
    Clause("GRP-LR", "GRP", "per-group lr with fallback",
           "lr: Optional. If 'lr' in the keys, the value of corresponding learning rate will be used. If not, "
           "the learning_rate in optimizer will be used.",
           "Fixed and dynamic group lrs alike."),
    Clause("GRP-ORDER", "GRP", "order_params fixes order, not values",
           "order_params: ... The value should be parameters whose order will be followed in optimizer.",
           "An order_params dict holds no other key and lists every grouped parameter."),
    Clause("GRP-GC", "GRP", "grad_centralization for qualifying shapes",
           "grad_centralization: Optional. Must be Boolean. ... This configuration only works on the "
           "convolution layer.",
           "g - mean(g over axes 1..) for ndim >= 2 and shape[1] % 16 == 0 (MindSpore's executable rule)."),
    Clause("LR-FIXED", "LR", "float / int / 0-d tensor learning rate",
           "float: The fixed learning rate value. Must be equal to or greater than 0.",
           "An int is converted to float; a 0-d tensor is fixed."),
    Clause("LR-SEQUENCE", "LR", "1-d tensor or iterable: update i uses element i",
           "For vector, learning rate is dynamic, then the i-th step will take the i-th value as the "
           "learning rate.",
           "i is 0-based: the first update uses element 0."),
    Clause("LR-SCHEDULE", "LR", "LearningRateSchedule called with the global step",
           "LearningRateSchedule: ... the optimizer calls the instance of LearningRateSchedule with step as "
           "the input to get the learning rate of current step.",
           "Global step 0 at the first update; formulas as MindSpore executes them; nn.dynamic_lr lists too."),
    Clause("SPR-DENSE-EQUIV", "SPR", "non-lazy: sparse equals its densified gradient",
           "The sparse strategy is applied while the SparseGatherV2 operator is used for forward network.",
           "Every row's m, v decay and every row's w moves, as the dense gradient would make them."),
    Clause("SPR-DUPLICATES", "SPR", "repeated indices summed",
           "The sparse feature is under continuous development.",
           "Duplicates are summed before the update (densified gradient)."),
    Clause("SPR-DECAY", "SPR", "sparse + weight decay equals dense",
           "weight_decay (float) - Weight decay (L2 penalty).",
           "Every row is decayed, as in the dense case."),
    Clause("SPR-NESTEROV", "SPR", "sparse + nesterov equals dense",
           "use_nesterov (bool) - Whether to use Nesterov Accelerated Gradient (NAG) algorithm",
           "Rows outside the indices move as the dense case makes them."),
    Clause("VAL-LR-TYPE", "VAL", "TypeError for a learning_rate of another type",
           "TypeError - If learning_rate is not one of int, float, Tensor, Iterable, LearningRateSchedule.",
           "A str or None is not a learning rate; a 2-d Tensor is a ValueError; int, bool (as 1.0/0.0), 0-d "
           "and 1-d Tensors, lists, tuples and one-shot iterators are accepted (SPEC-NOTES 3, 5)."),
    Clause("VAL-PARAM-TYPE", "VAL", "TypeError for a params element of another type",
           "TypeError - If element of parameters is neither Parameter nor dict.",
           "params=None or [] raise ValueError, a bare Parameter TypeError, the same Parameter twice "
           "ValueError; any iterable of Parameters is accepted, a one-shot iterator read once (SPEC-NOTES 5)."),
    Clause("VAL-FLOAT-TYPE", "VAL", "TypeError for non-float beta1/beta2/eps/loss_scale",
           "TypeError - If beta1, beta2, eps or loss_scale is not a float.",
           "An int, a bool or a Tensor is not a float (SPEC-NOTES 5)."),
    Clause("VAL-WD-TYPE", "VAL", "TypeError for weight_decay neither float nor int",
           "TypeError - If weight_decay is neither float nor int.",
           "A bool or a Tensor is neither (MindSpore's type check); an int is accepted."),
    Clause("VAL-BOOL-TYPE", "VAL", "TypeError for non-bool use_locking/use_nesterov",
           "TypeError - If use_locking or use_nesterov is not a bool."),
    Clause("VAL-POSITIVE", "VAL", "ValueError for loss_scale or eps <= 0",
           "ValueError - If loss_scale or eps is less than or equal to 0.",
           "inf and nan are ValueErrors too (SPEC-NOTES 5: not a legal value)."),
    Clause("VAL-BETA-RANGE", "VAL", "ValueError for beta outside (0, 1)",
           "ValueError - If beta1, beta2 is not in range (0.0, 1.0).",
           "Open interval; nan is not in it."),
    Clause("VAL-WD-RANGE", "VAL", "ValueError for weight_decay < 0", "ValueError - If weight_decay is less than 0.",
           "inf and nan are ValueErrors too (SPEC-NOTES 5)."),
    Clause("VAL-LR-RANGE", "VAL", "ValueError for a fixed lr < 0",
           "float: The fixed learning rate value. Must be equal to or greater than 0.",
           "The seed names no type: ValueError, as MindSpore; nan and inf are not legal values (SPEC-NOTES 5)."),
    Clause("VAL-GROUP", "VAL", "malformed group dicts raise at construction",
           "When the params is a list of dict, the string 'params', 'lr', 'weight_decay', 'grad_centralization' "
           "and 'order_params' are the keys can be parsed.",
           "The seed names no type: any of TypeError/ValueError/KeyError/RuntimeError passes; the type is reported. "
           "A group lr sequence must match a list/tuple/1-d learning_rate's length; an empty order_params is "
           "ignored (SPEC-NOTES 3, 5)."),
)

BY_ID: dict[str, Clause] = {c.id: c for c in CLAUSES}


def select(patterns: str | None) -> tuple[Clause, ...]:
    """Clauses matching comma-separated globs (``"UPD-*,DEC-L2"``); all when ``patterns`` is empty."""
    if not patterns:
        return CLAUSES
    pats = [p.strip() for p in patterns.split(",") if p.strip()]
    unknown = [p for p in pats if not any(fnmatch.fnmatchcase(c.id, p) for c in CLAUSES)]
    if unknown:
        raise ValueError(f"--clauses pattern(s) {unknown} match no clause; see `adam-conformance clauses`")
    return tuple(c for c in CLAUSES if any(fnmatch.fnmatchcase(c.id, p) for p in pats))
