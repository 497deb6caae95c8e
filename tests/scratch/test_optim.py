"""Every optimizer's parameter trajectory equals torch.optim's, step by step, in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from coursekit.scratch import SGD, Adagrad, Adam, Dense, RMSprop

STEPS = 25
TOL = {"rtol": 1e-10, "atol": 1e-12}


def make_layers(seed: int = 0) -> list[Dense]:
    rng = np.random.default_rng(seed)
    layers = [Dense(3, 4, random_state=rng), Dense(4, 2, random_state=rng)]
    for layer in layers:  # start well away from zero so every update rule matters
        for p in layer.params.values():
            p[...] = rng.standard_normal(p.shape)
    return layers


def gradient(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Gradient of sum(a * p**2 / 2 + b * sin(p)): curved, different for every element."""
    return a * p + b * np.cos(p)


def run_both(ours_factory, torch_factory, *, scheduler_factory=None):
    """Train the same parameters with ours and with torch.optim; yield both after each step."""
    layers = make_layers()
    rng = np.random.default_rng(1)
    arrays = [p for layer in layers for p in layer.params.values()]
    coefs = [(rng.uniform(0.5, 2.0, p.shape), rng.standard_normal(p.shape)) for p in arrays]
    tensors = [torch.tensor(p.copy(), requires_grad=True) for p in arrays]
    ours = ours_factory(layers)
    theirs = torch_factory(tensors)
    scheduler = scheduler_factory(theirs) if scheduler_factory else None
    for _ in range(STEPS):
        for layer in layers:  # what a backward pass does: fresh gradient arrays
            for name, p in layer.params.items():
                i = next(k for k, q in enumerate(arrays) if q is p)
                layer.grads[name] = gradient(p, *coefs[i])
        ours.step()
        theirs.zero_grad()
        loss = sum(
            (torch.tensor(a) * t**2 / 2 + torch.tensor(b) * torch.sin(t)).sum()
            for t, (a, b) in zip(tensors, coefs, strict=True)
        )
        loss.backward()
        theirs.step()
        if scheduler is not None:
            scheduler.step()
        yield arrays, [t.detach().numpy() for t in tensors]


CASES = {
    "sgd": (lambda ls: SGD(ls, lr=0.1), lambda ts: torch.optim.SGD(ts, lr=0.1)),
    "sgd-momentum": (
        lambda ls: SGD(ls, lr=0.05, momentum=0.9),
        lambda ts: torch.optim.SGD(ts, lr=0.05, momentum=0.9),
    ),
    "sgd-nesterov": (
        lambda ls: SGD(ls, lr=0.05, momentum=0.8, nesterov=True),
        lambda ts: torch.optim.SGD(ts, lr=0.05, momentum=0.8, nesterov=True),
    ),
    "sgd-momentum-weight-decay": (
        lambda ls: SGD(ls, lr=0.05, momentum=0.9, weight_decay=0.1),
        lambda ts: torch.optim.SGD(ts, lr=0.05, momentum=0.9, weight_decay=0.1),
    ),
    "adagrad": (lambda ls: Adagrad(ls, lr=0.3), lambda ts: torch.optim.Adagrad(ts, lr=0.3)),
    # torch's Adagrad has the same decay built in: lr / (1 + (step - 1) * lr_decay)
    "adagrad-decay-weight-decay": (
        lambda ls: Adagrad(ls, lr=0.3, decay=0.05, weight_decay=0.02),
        lambda ts: torch.optim.Adagrad(ts, lr=0.3, lr_decay=0.05, weight_decay=0.02),
    ),
    "rmsprop": (
        lambda ls: RMSprop(ls, lr=0.01, alpha=0.9),
        lambda ts: torch.optim.RMSprop(ts, lr=0.01, alpha=0.9),
    ),
    "rmsprop-weight-decay": (
        lambda ls: RMSprop(ls, lr=0.02, alpha=0.99, eps=1e-6, weight_decay=0.1),
        lambda ts: torch.optim.RMSprop(ts, lr=0.02, alpha=0.99, eps=1e-6, weight_decay=0.1),
    ),
    "adam": (lambda ls: Adam(ls, lr=0.05), lambda ts: torch.optim.Adam(ts, lr=0.05)),
    "adam-weight-decay": (
        lambda ls: Adam(ls, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05),
        lambda ts: torch.optim.Adam(ts, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_trajectory_equals_torch_optim(case):
    ours, theirs = CASES[case]
    n = 0
    for n, (mine, reference) in enumerate(run_both(ours, theirs), start=1):
        for p, q in zip(mine, reference, strict=True):
            assert_allclose(p, q, **TOL, err_msg=f"{case}: parameters differ after step {n}")
    assert n == STEPS


# torch.optim.SGD and Adam have no lr / (1 + decay t) schedule: we compare with
# torch.optim.lr_scheduler.LambdaLR, stepped once after every optimizer step, which sets the
# learning rate of step t (t = 0, 1, ...) to lr * 1 / (1 + decay * t).
DECAY = 0.1


def inverse_time(optimizer):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 1.0 / (1.0 + DECAY * t))


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda ls: SGD(ls, lr=0.1, momentum=0.9, decay=DECAY),
         lambda ts: torch.optim.SGD(ts, lr=0.1, momentum=0.9)),
        (lambda ls: Adam(ls, lr=0.05, decay=DECAY), lambda ts: torch.optim.Adam(ts, lr=0.05)),
        (lambda ls: RMSprop(ls, lr=0.02, decay=DECAY),
         lambda ts: torch.optim.RMSprop(ts, lr=0.02)),
    ],
    ids=["sgd-momentum", "adam", "rmsprop"],
)
def test_learning_rate_decay_equals_torch_lambda_lr(ours, theirs):
    for n, (mine, reference) in enumerate(
        run_both(ours, theirs, scheduler_factory=inverse_time), start=1
    ):
        for p, q in zip(mine, reference, strict=True):
            assert_allclose(p, q, **TOL, err_msg=f"parameters differ after step {n}")


def test_decay_changes_the_step_from_step_two_on():
    """With a constant gradient of 1, SGD moves by lr / (1 + decay * t) at step t = 0, 1, ..."""
    moves = {}
    for decay in (0.0, 0.5):
        layer = Dense(1, 1)
        layer.params["W"][...] = 0.0
        optimizer = SGD([layer], lr=1.0, decay=decay)
        positions = [0.0]
        for _ in range(4):
            layer.grads["W"] = np.ones((1, 1))
            layer.grads["b"] = np.zeros(1)
            optimizer.step()
            positions.append(float(layer.params["W"][0, 0]))
        moves[decay] = -np.diff(positions)
    assert_allclose(moves[0.0], [1.0, 1.0, 1.0, 1.0])
    assert_allclose(moves[0.5], [1.0, 1 / 1.5, 1 / 2.0, 1 / 2.5])  # hand-computed schedule
    assert moves[0.5][0] == moves[0.0][0]
    assert np.all(moves[0.5][1:] < moves[0.0][1:])


def test_current_lr_is_recomputed_every_step():
    optimizer = Adam(make_layers(), lr=0.1, decay=1.0)
    rates = []
    for _ in range(3):
        rates.append(optimizer.current_lr)
        optimizer.step()
    assert_allclose(rates, [0.1, 0.05, 0.1 / 3])
    assert optimizer.iterations == 3


@pytest.mark.parametrize("case", CASES)
def test_updates_are_in_place(case):
    layers = make_layers()
    originals = [p for layer in layers for p in layer.params.values()]
    before = [p.copy() for p in originals]
    for layer in layers:
        for name, p in layer.params.items():
            layer.grads[name] = np.ones_like(p)
    CASES[case][0](layers).step()
    after = [p for layer in layers for p in layer.params.values()]
    for original, current, old in zip(originals, after, before, strict=True):
        assert current is original  # the very same array object ...
        assert not np.array_equal(current, old)  # ... holding new values
        assert current.dtype == np.float64


def test_state_is_per_optimizer_and_per_parameter():
    layers = make_layers()
    for layer in layers:
        for name, p in layer.params.items():
            layer.grads[name] = np.ones_like(p)
    a, b = Adam(layers, lr=0.1), Adam(layers, lr=0.1)
    a.step()
    assert b.state == [{}, {}] and b.iterations == 0
    assert set(a.state[0]) == {"W", "b"}
    assert a.state[0]["W"]["m"].shape == (3, 4) and a.state[1]["b"]["v"].shape == (2,)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda ls: SGD(ls, lr=0.0), "lr must be a finite number > 0"),
        (lambda ls: SGD(ls, lr=float("nan")), "lr must be a finite number > 0"),
        (lambda ls: SGD(ls, lr=0.1, decay=-1.0), "decay must be a finite number >= 0"),
        (lambda ls: SGD(ls, lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
        (lambda ls: Adam(ls, betas=(0.9, 1.0)), r"betas\[1\] must be a finite number >= 0 and < 1"),
        (lambda ls: RMSprop(ls, alpha=1.5), "alpha must be a finite number >= 0 and < 1"),
        (lambda ls: Adagrad(ls, weight_decay=-0.1), "weight_decay must be"),
        (lambda ls: SGD([], lr=0.1), "got no layers"),
        (lambda ls: SGD([np.zeros(3)], lr=0.1), "expects layers with params and grads"),
    ],
)
def test_bad_optimizer_arguments(build, message):
    with pytest.raises(ValueError, match=message):
        build(make_layers())


def test_a_gradient_of_the_wrong_shape_is_refused():
    layer = Dense(3, 2)
    layer.grads["W"] = np.zeros((2, 3))
    expected = r"grads\['W'\] has shape \(2, 3\), params\['W'\] \(3, 2\)"
    with pytest.raises(ValueError, match=expected):
        SGD([layer], lr=0.1).step()
