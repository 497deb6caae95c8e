"""Lesson 09 checks: valid versions written differently pass (and run the lesson's later cells);
what no declared mistake covers (a pair the wrong way round or missing, the forward pass's
statistics, a float index, arguments changed in place, float32) is named. Declared mistakes
are tested in test_mistakes.py."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit import scratch
from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson09 as check
from coursekit.exercise.wire import round_trip
from tests.checks.wire import assert_same_verdict_over_the_wire

# --- exercise 1: the L2 term ---------------------------------------------------------------


def _l2_loop(loss, params, grads, weight_decay):
    total = loss
    new = {}
    for name in params:
        total += weight_decay / 2 * np.sum(params[name] ** 2)
        new[name] = grads[name] + weight_decay * params[name]
    return total, new


def _l2_norms(loss, params, grads, weight_decay):
    squares = sum(np.linalg.norm(p.ravel()) ** 2 for p in params.values())
    return loss + 0.5 * weight_decay * squares, {k: g + weight_decay * params[k]
                                                 for k, g in grads.items()}


def _l2_step_like_the_lesson(l2_regularize):
    """The lesson's cell after the check: a hand step with l2_regularize equals SGD's."""
    rng = np.random.default_rng(0)
    nets = [scratch.Sequential(scratch.Dense(4, 3, init="he", random_state=1), scratch.ReLU(),
                               scratch.Dense(3, 2, init="he", random_state=2)) for _ in range(2)]
    X, y = rng.normal(size=(6, 4)), rng.integers(0, 2, 6)
    loss_fn, lam, lr = scratch.SoftmaxCrossEntropy(), 0.01, 0.05
    for net in nets:
        loss_fn.forward(net.forward(X), y)
        net.backward(loss_fn.backward())
    by_hand, by_optimizer = nets
    total, steps = 1.0, []
    for layer in by_hand.layers:
        if layer.params:
            total, new_grads = l2_regularize(total, layer.params, layer.grads, lam)
            steps.append((layer, new_grads))
    for layer, new_grads in steps:
        for name, param in layer.params.items():
            param -= lr * new_grads[name]
    scratch.SGD(by_optimizer.layers, lr=lr, weight_decay=lam).step()
    for a, b in zip(by_hand.layers, by_optimizer.layers, strict=True):
        for key in a.params:
            np.testing.assert_allclose(a.params[key], b.params[key], rtol=0, atol=1e-12)
    assert f"{total - 1.0:.4f}"


def _l2_einsum(loss, params, grads, weight_decay):
    penalty = sum(np.einsum("i,i->", p.ravel(), p.ravel()) for p in params.values())
    new_grads = dict(grads)  # a new dict; the layer's own grads stay as they were
    for name, p in params.items():
        new_grads[name] = new_grads[name] + weight_decay * p
    return loss + weight_decay * penalty / 2, new_grads


L2_VALID = [_l2_loop, _l2_norms, _l2_einsum]


@pytest.mark.parametrize("valid", [check.reference_l2, *L2_VALID],
                         ids=["reference", "loop", "norms", "einsum"])
def test_l2_accepts_valid_versions_that_run_the_later_cell(valid, capsys):
    check.l2_regularize(valid)
    assert capsys.readouterr().out.startswith("✔ 09-l2-term")
    _l2_step_like_the_lesson(valid)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda loss, ps, gs, lam: check.reference_l2(loss, ps, gs, lam)[::-1], "wrong way round"),
        (lambda loss, ps, gs, lam: (check.reference_l2(loss, ps, gs, 2 * lam)[1], loss),
         "wrong way round"),
        (lambda loss, ps, gs, lam: check.reference_l2(loss, ps, gs, lam)[0],
         r"expected a tuple of 2 \(loss, grads\), got a number"),
        (lambda loss, ps, gs, lam: (check.reference_l2(loss, ps, gs, lam)[0], {"W": gs["W"]}),
         r"grads: expected the keys \['W', 'b'\], got \['W'\]"),
        (lambda loss, ps, gs, lam: (check.reference_l2(loss, ps, gs, lam)[0],
                                    {k: 3 * g for k, g in gs.items()}),
         r"with λ=0.1: gradient of 'W': 12 of 12 entries differ"),
    ],
    ids=["swapped", "swapped-and-wrong", "loss-only", "missing-key", "unnamed-gradient"],
)
def test_l2_names_what_no_declared_mistake_covers(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.l2_regularize(wrong)


def test_l2_refuses_a_version_that_decays_the_parameters_themselves():
    def decays_params(loss, params, grads, weight_decay):
        for p in params.values():
            p *= 1 - weight_decay  # the optimizer's job, done twice
        return check.reference_l2(loss, params, grads, weight_decay)

    with pytest.raises(ExerciseFailed, match="your function changed `params` in place"):
        check.l2_regularize(decays_params)


# --- exercise 2: dropout -------------------------------------------------------------------


def _dropout_binomial(x, rate, rng, training=True):
    if not training:
        return x.copy(), np.ones(x.shape)
    mask = rng.binomial(1, 1.0 - rate, size=x.shape) / (1.0 - rate)
    return x * mask, mask


def _dropout_where(x, rate, rng, training=True):
    mask = np.ones_like(x)
    if training:
        mask = np.where(rng.uniform(size=x.shape) < rate, 0.0, 1.0 / (1.0 - rate))
    return mask * x, mask


def _backward_einsum(dout, mask):
    return np.einsum("...,...->...", dout, mask)


def _dropout_figure_like_the_lesson(forward):
    """The lesson's figure cell: 1-d images, training=False by keyword, the mean of draws."""
    rng = np.random.default_rng(0)
    image = np.random.default_rng(1).normal(size=64)
    views = [forward(image, 0.5, rng)[0] for _ in range(3)]
    views.append(forward(image, 0.5, rng, training=False)[0])
    average = np.mean([forward(image, 0.5, rng)[0] for _ in range(2000)], axis=0)
    assert all(view.reshape(8, 8).shape == (8, 8) for view in views)
    assert np.abs(average - image).max() < 0.6


def _dropout_uniform(x, rate, rng, training=True):
    if not training:
        return x, np.ones(x.shape)  # x itself: evaluation changes nothing
    keep = rng.uniform(0.0, 1.0, size=x.shape) > rate
    mask = keep.astype(x.dtype) * (1 / (1 - rate))
    return np.multiply(x, mask), mask


def _backward_where(dout, mask):
    return np.where(mask != 0, dout * mask, 0.0)


DROPOUT_VALID = [(_dropout_binomial, _backward_einsum), (_dropout_where, np.multiply),
                 (_dropout_uniform, _backward_where)]


@pytest.mark.parametrize(
    ("forward", "backward"), [(None, None), *DROPOUT_VALID],
    ids=["reference", "binomial", "where", "uniform"],
)
def test_dropout_accepts_valid_versions_that_run_the_later_cell(forward, backward, capsys):
    if forward is None:  # the lesson's own solution
        forward, backward = check.reference_dropout_forward, check.reference_dropout_backward
    check.dropout(forward, backward)
    assert "✔ 09-dropout" in capsys.readouterr().out
    _dropout_figure_like_the_lesson(forward)


def _forward(keep_where, scale, evaluation=None, global_rng=False):
    def forward(x, rate, rng, training=True):
        if not training:
            return (x.copy(), np.ones_like(x)) if evaluation is None else evaluation(x, rate)
        # global_rng: a generator of its own (as np.random.random would be), not the one passed
        u = np.random.default_rng().random(x.shape) if global_rng else rng.random(x.shape)
        mask = keep_where(u, rate) * scale(rate)
        return x * mask, mask
    return forward


def _right_backward(dout, mask):
    return dout * mask


KEEP = lambda u, r: (u >= r).astype(float)  # noqa: E731
INVERTED = lambda r: 1.0 / (1.0 - r) if r < 1 else 1.0  # noqa: E731


@pytest.mark.parametrize(
    ("forward", "backward", "message"),
    [
        (_forward(KEEP, lambda r: 1.0), _right_backward, "scales kept entries by 1/"),
        (_forward(KEEP, lambda r: 1.0 - r), _right_backward, "don't multiply"),
        (_forward(KEEP, lambda r: 1.0 / r if r else 1.0), _right_backward, "not by rate"),
        (_forward(lambda u, r: (u < r).astype(float), INVERTED), _right_backward,
         "probability of dropping"),
        (_forward(KEEP, INVERTED, global_rng=True), _right_backward,
         "draw the mask from the rng passed in"),
        (_forward(KEEP, INVERTED, evaluation=lambda x, r: (x * (1 - r), np.ones_like(x))),
         _right_backward, "must not scale by"),
        (_forward(KEEP, INVERTED), lambda dout, mask: dout * (mask > 0),
         "dL/dx should be dout \\* mask"),
    ],
    ids=["unscaled", "times-keep", "over-rate", "keep-prob-swapped", "global-rng",
         "eval-scaled", "backward-unscaled-mask"],
)
def test_dropout_names_the_mistake(forward, backward, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.dropout(forward, backward)


def test_dropout_in_eval_mode_must_not_drop():
    def always_drops(x, rate, rng, training=True):
        mask = (rng.random(x.shape) >= rate) / (1.0 - rate)
        return x * mask, mask

    with pytest.raises(ExerciseFailed, match="nothing may be dropped"):
        check.dropout(always_drops, _right_backward)


# --- exercise 3: early stopping ------------------------------------------------------------


def _stopping_while(val_losses, patience):
    best, i, since = 0, 1, 0
    while i < len(val_losses) and since < patience:
        if val_losses[i] < val_losses[best]:
            best, since = i, 0
        else:
            since += 1
        i += 1
    return best


def _stopping_numpy(val_losses, patience):
    curve = np.asarray(val_losses)
    best_so_far = np.minimum.accumulate(curve)
    improved = np.r_[True, curve[1:] < best_so_far[:-1]]
    last, best = 0, 0
    for i, better in enumerate(improved):
        if better:
            best, last = i, i
        elif i - last >= patience:
            break
    return int(best)


def _stopping_like_the_lesson(stopping_epoch):
    """The lesson's cell after the check, on a curve shaped like its plain run."""
    curve = [1.7, 0.9, 0.69, 0.72, 0.75, 0.78, 0.8, 0.8, 0.81, 0.83] + [0.85] * 20
    epochs = list(range(5, 5 * len(curve) + 1, 5))
    weights = [{"epoch": e} for e in epochs]
    stop = stopping_epoch(curve, 5)
    assert weights[stop]["epoch"] == 15
    assert stop == scratch.early_stopping_epoch(curve, patience=5)


def _stopping_since_best(val_losses, patience):
    best = 0
    for i, loss in enumerate(val_losses):
        if loss < val_losses[best]:
            best = i
        elif i - best >= patience:  # patience evaluations since the best, none better
            break
    return best


STOPPING_VALID = [_stopping_while, _stopping_numpy, _stopping_since_best]


@pytest.mark.parametrize("valid", [check.reference_stopping_epoch, *STOPPING_VALID],
                         ids=["reference", "while", "numpy", "since-best"])
def test_stopping_accepts_valid_versions_that_run_the_later_cell(valid, capsys):
    check.stopping_epoch(valid)
    assert "✔ 09-early-stopping" in capsys.readouterr().out
    _stopping_like_the_lesson(valid)


def test_stopping_refuses_a_float_index():
    with pytest.raises(ExerciseFailed,
                       match="expected an int, got a number.*later cells index with it"):
        check.stopping_epoch(lambda curve, patience:
                             float(check.reference_stopping_epoch(curve, patience)))


# ---- every exercise's valid versions, for tests/checks/test_valid_versions.py ----

VALID_VERSIONS: dict[str, list[object]] = {
    "09-l2-term": L2_VALID,
    "09-dropout": DROPOUT_VALID,
    "09-early-stopping": STOPPING_VALID,
}


# --- accepted once, then a later cell of the lesson failed or showed nonsense: refused now ---


def _dropout_into_x(x, rate, rng, training=True):
    if not training:
        return x, np.ones_like(x)
    mask = (rng.random(x.shape) >= rate) / (1.0 - rate)
    x *= mask  # the lesson's figure draws 2000 masks for the same image: it would fade to 0
    return x, mask


def _stopping_with_a_sentinel(val_losses, patience):
    val_losses.append(float("inf"))  # so the loop always ends on a "no improvement"
    best, waited = 0, 0
    for i in range(1, len(val_losses)):
        if val_losses[i] < val_losses[best]:
            best, waited = i, 0
        else:
            waited += 1
            if waited == patience:
                break
    return best


def _l2_float32(loss, params, grads, weight_decay):
    total, new = check.reference_l2(loss, params, grads, weight_decay)
    return np.float32(total), {k: g.astype(np.float32) for k, g in new.items()}


@pytest.mark.parametrize(
    ("exercise_id", "wrong", "message"),
    [("09-dropout", (_dropout_into_x, _right_backward), r"changed `x` in place"),
     ("09-early-stopping", (_stopping_with_a_sentinel,), r"changed `val_losses` in place"),
     # refused before, as "the penalised loss should be 3.002974, got 3.002974"
     ("09-l2-term", (_l2_float32,), r"with λ=0.1: your answer is float32; keep every array "
                                    "float64")],
    ids=["dropout-x", "stopping-sentinel", "l2-float32"],
)
def test_answers_a_later_cell_cannot_use_are_refused(exercise_id, wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.EXERCISES[exercise_id].check(*wrong)


def test_dropout_tolerates_the_scatter_of_a_right_answers_drops(capsys):
    """Seed 34 draws a mask that drops 37.8% of the 4000 entries at rate 0.4 (sd 0.8%): a right
    answer, which a fixed ±2% bound once refused in about one grading run in a hundred."""
    forward, backward = VALID_VERSIONS["09-dropout"][0]
    check.dropout.check(forward, backward, seed=34)
    assert "✔ 09-dropout" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("exercise_id", "student"),
    [("09-l2-term", (check.reference_l2,)), ("09-l2-term", (lambda *args: None,)),
     ("09-dropout", (check.reference_dropout_forward, check.reference_dropout_backward)),
     ("09-dropout", (_forward(KEEP, INVERTED, global_rng=True), _right_backward)),
     ("09-dropout", ("not a function", _right_backward)),
     ("09-early-stopping", (check.reference_stopping_epoch,)),
     ("09-early-stopping", (_stopping_with_a_sentinel,))],
    ids=["l2", "l2-none", "dropout", "dropout-global-rng", "dropout-not-callable", "stopping",
         "stopping-sentinel"],
)
def test_probe_data_survives_the_wire(exercise_id, student):
    exercise = check.EXERCISES[exercise_id]
    if len(student) == 1:
        assert_same_verdict_over_the_wire(exercise, *student)
        return
    # dropout's check takes two functions, which tests/checks/wire.py's helper does not
    inputs = round_trip(exercise.inputs(np.random.default_rng(7)))
    data = exercise.probe(inputs, *student)
    assert exercise.verdict(inputs, round_trip(data)) == exercise.verdict(inputs, data)


def test_l2_refuses_the_layers_own_gradients_changed_and_returned():
    """The spec asks for a new dict: adding the penalty into the layer's gradients in place
    would add it again at every call."""
    def in_place(loss, params, grads, weight_decay):
        for name, p in params.items():
            grads[name] += weight_decay * p
        return loss + weight_decay / 2 * sum(float(np.sum(p**2)) for p in params.values()), grads

    with pytest.raises(ExerciseFailed, match="your function changed `grads` in place"):
        check.l2_regularize(in_place)


@pytest.mark.parametrize(("draw", "message"), [
    (lambda x, rng: rng.random(x.shape[-1:]), "every row has the same mask"),
    (lambda x, rng: rng.random(x.shape[:1] + (1,) * (x.ndim - 1)), "each row is kept or dropped "
                                                                   "whole"),
])
def test_dropout_refuses_masks_not_drawn_per_entry(draw, message):
    def forward(x, rate, rng, training=True):
        if not training:
            return x, np.ones_like(x)
        mask = (np.broadcast_to(draw(x, rng), x.shape) >= rate) / (1.0 - rate)
        return x * mask, mask

    with pytest.raises(ExerciseFailed, match=message):
        check.dropout(forward, check.reference_dropout_backward)
