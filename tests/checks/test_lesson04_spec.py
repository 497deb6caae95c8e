"""Lesson 04: wrong versions for demands of the prompts that no declared mistake expresses
(the spec audit): X and y left as they were, the batches drawn from the rng passed in, and the
defaults of adam_update's signature, which the lesson's next cell relies on."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit import data as datasets
from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson04 as check

SHUFFLE_SEED = 2  # the lesson's global seed of the mini-batches' order


def _loop_centring_X(model, loss_fn, optimizer, X, y, *, n_epochs, batch_size, rng):
    X -= X.mean(axis=0)  # "normalise the inputs first", in the caller's array
    return check.reference_train_loop(model, loss_fn, optimizer, X, y, n_epochs=n_epochs,
                                      batch_size=batch_size, rng=rng)


def _loop_lesson_seed(model, loss_fn, optimizer, X, y, *, n_epochs, batch_size, rng):
    losses = []
    for _ in range(n_epochs):  # the lesson's seed instead of the rng passed in
        for X_batch, y_batch in datasets.batches(X, y, batch_size=batch_size,
                                                 random_state=SHUFFLE_SEED):
            losses.append(loss_fn.forward(model.forward(X_batch), y_batch))
            model.backward(loss_fn.backward())
            optimizer.step()
    return np.array(losses)


LOOP_WRONG = [
    (_loop_centring_X, r"batch_size=\d+, n_epochs=\d+, (SGD|Adam): your function changed `X` in "
                       r"place .* later cells use it again"),
    (_loop_lesson_seed, r"The very first loss is off: the first mini-batch is not data\.batches' "
                        r"first \(the order must come from data\.batches\(X, y, "
                        r"batch_size=batch_size, random_state=rng\)"),
]


@pytest.mark.parametrize(("wrong", "message"), LOOP_WRONG)
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_a_loop_against_the_prompt_is_named(wrong, message: str, seed) -> None:
    with pytest.raises(ExerciseFailed, match=message):
        check.training_loop.check(wrong, **({} if seed is None else {"seed": seed}))


def _adam_with(beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
    """The right update behind a signature whose defaults differ from the stub's."""
    def adam_update(param, grad, m, v, t, *, lr, beta1=beta1, beta2=beta2, eps=eps):
        return check.reference_adam_update(param, grad, m, v, t, lr=lr, beta1=beta1,
                                           beta2=beta2, eps=eps)
    return adam_update


def _adam_without_defaults(param, grad, m, v, t, *, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    return param - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps), m, v


ADAM_WRONG = [
    (_adam_without_defaults, r"missing 3 required keyword-only arguments: 'beta1', 'beta2', "
                             "and 'eps'"),
    (_adam_with(eps=1e-7), r"eps left at their defaults\), step 1: that is ε = 1e-07, but this "
                           r"call's eps is 1e-08: use the eps argument \(its default is 1e-8"),
    (_adam_with(beta2=0.99), r"lr=0\.01 \(beta1, beta2, eps left at their defaults\), step 2: "
                             "param: .* entries differ"),
    (_adam_with(beta1=0.95), r"lr=0\.01 \(beta1, beta2, eps left at their defaults\), step 2: "
                             "param: .* entries differ"),
]


@pytest.mark.parametrize(("wrong", "message"), ADAM_WRONG)
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_adam_defaults_other_than_the_stubs_are_refused(wrong, message: str, seed) -> None:
    with pytest.raises(ExerciseFailed, match=message):
        check.adam_update.check(wrong, **({} if seed is None else {"seed": seed}))


def test_the_defaults_run_calls_with_lr_alone() -> None:
    inputs = check.adam_update.inputs(np.random.default_rng(0))
    run = inputs["cases"][-1]
    assert "lr" in run and not {"beta1", "beta2", "eps"} & set(run)
    assert check.ADAM_DEFAULTS == {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
