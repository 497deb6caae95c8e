"""Lesson 09's L2 term on a layer whose arrays are not W and b: "one layer's params" holds
whatever arrays that layer has (a BatchNorm layer's gamma and beta), so a version that names
'W' and 'b' is refused, and one that loops over the dict passes."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson09 as check


def _named_keys(loss, params, grads, weight_decay):
    penalty = weight_decay / 2 * (np.sum(params["W"] ** 2) + np.sum(params["b"] ** 2))
    return loss + penalty, {"W": grads["W"] + weight_decay * params["W"],
                            "b": grads["b"] + weight_decay * params["b"]}


def _key_tuple(loss, params, grads, weight_decay):
    new = {}
    for name in ("W", "b"):  # a Dense layer's names only
        loss = loss + weight_decay / 2 * float(np.sum(params[name] ** 2))
        new[name] = grads[name] + weight_decay * params[name]
    return loss, new


@pytest.mark.parametrize("wrong", [_named_keys, _key_tuple])
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_l2_refuses_a_version_that_names_w_and_b(wrong, seed):
    with pytest.raises(ExerciseFailed, match=r"params of keys \['beta', 'gamma'\]: your function "
                                             r"raised KeyError 'W': params and grads hold "
                                             r"whatever arrays the layer has"):
        check.l2_regularize(wrong, **({} if seed is None else {"seed": seed}))


def test_l2_passes_on_the_batchnorm_layer_with_the_reference(capsys):
    check.l2_regularize(check.reference_l2)
    assert "✔ 09-l2-term: penalised loss and gradients match on 4 layers" in capsys.readouterr().out
