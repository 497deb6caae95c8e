"""Lesson 02's checks pass the reference and name each realistic mistake."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson02 as check
from coursekit.data import batches, linear_data
from coursekit.exercise.wire import round_trip

# ---- 02-model-and-loss ----

predict = check.reference_predict


def mse(X, y, w, b):
    return float(np.mean((predict(X, w, b) - y) ** 2))


def test_model_and_loss_pass_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    check.model_and_loss(check.reference_predict, check.reference_loss)
    assert capsys.readouterr().out.startswith("✔ 02-model-and-loss:")


def _predict_column(X, w, b):  # w made a column: (N, d) @ (d, 1) -> (N, 1)
    return X @ w.reshape(-1, 1) + b


def _predict_unsummed(X, w, b):  # X * w: each feature times its weight, never added up
    return X * w + b


def _mse_inline_column(X, y, w, b):  # its own column prediction: (N, 1) - (N,) -> (N, N)
    return float(np.mean((X @ w[:, None] + b - y) ** 2))


def _mse_matrix(X, y, w, b):
    return (X @ w[:, None] + b - y) ** 2


MODEL_MISTAKES = [
    ((_predict_column, mse),
     r"predict for X of shape \(\d+, 2\): expected shape \(\d+,\), got \(\d+, 1\), a column.*"
     r"broadcast to a \(\d+, \d+\) matrix"),
    ((_predict_unsummed, mse), r"got \(\d+, 2\): X \* w multiplies each feature"),
    ((lambda X, w, b: np.sum(X * w, axis=0) + b, mse),
     r"got \(2,\): one number per feature, as if summed over the samples \(axis=0\)"),
    ((lambda X, w, b: X @ w, mse), "the bias is missing: ŷ = Xw"),
    ((lambda X, w, b: X @ w - b, mse), "b is subtracted"),
    ((predict, lambda X, y, w, b: float(np.sum((predict(X, w, b) - y) ** 2))),
     "that is the sum; the loss is the mean"),
    ((predict, lambda X, y, w, b: float(np.sum((predict(X, w, b) - y) ** 2) / X.shape[1])),
     r"divides by the number of features d=2 \(X.shape\[1\]\); the mean is over the N=\d+"),
    ((predict, lambda X, y, w, b: float(np.mean(predict(X, w, b) - y) ** 2)),
     "squares the mean residual; square each residual first"),
    ((predict, lambda X, y, w, b: float(np.sqrt(np.mean((predict(X, w, b) - y) ** 2)))),
     "square root of the mean squared error"),
    ((predict, lambda X, y, w, b: float(np.mean(np.abs(predict(X, w, b) - y)))),
     "mean absolute error"),
    ((predict, lambda X, y, w, b: 0.5 * float(np.mean((predict(X, w, b) - y) ** 2))),
     "no 1/2 factor"),
    ((predict, lambda X, y, w, b: (predict(X, w, b) - y) ** 2),
     r"expected a float, got an array of shape \(\d+,\): one squared residual per sample"),
    ((predict, _mse_inline_column),
     r"mean over a \((\d+), \1\) matrix: predictions of shape \(\1, 1\) minus y"),
    ((predict, _mse_matrix), r"got an array of shape \((\d+), \1\): predictions of shape"),
    ((predict, lambda X, y, w, b: float(np.mean((X @ w - y) ** 2))),
     r"bias is missing from the prediction in mse: use predict\(X, w, b\)"),
    ((predict, lambda X, y, w: float(np.mean((X @ w - y) ** 2))),
     "raised TypeError"),
]


@pytest.mark.parametrize(("wrong", "message"), MODEL_MISTAKES)
def test_model_and_loss_name_the_mistake(wrong, message: str) -> None:
    with pytest.raises(ExerciseFailed, match=message):
        check.model_and_loss(*wrong)


def test_model_and_loss_report_a_function_still_to_write() -> None:
    def todo(X, y, w, b):
        raise NotImplementedError("02-model-and-loss")

    with pytest.raises(ExerciseFailed, match="not implemented yet"):
        check.model_and_loss(predict, todo)


# ---- 02-mse-gradient ----


def test_gradient_passes_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    check.mse_gradient(check.reference_gradient)
    assert capsys.readouterr().out.startswith("✔ 02-mse-gradient:")


def test_reference_gradient_matches_central_differences() -> None:
    X, y = linear_data(20, random_state=0)
    w, b, eps = np.array([0.3, -0.7]), 0.5, 1e-6
    dw, db = check.reference_gradient(X, y, w, b)
    for j in range(2):
        step = np.zeros(2)
        step[j] = eps
        numeric = (check.reference_loss(X, y, w + step, b)
                   - check.reference_loss(X, y, w - step, b)) / (2 * eps)
        assert dw[j] == pytest.approx(numeric, rel=1e-6)
    numeric_b = (check.reference_loss(X, y, w, b + eps)
                 - check.reference_loss(X, y, w, b - eps)) / (2 * eps)
    assert db == pytest.approx(numeric_b, rel=1e-6)


def _missing_two(X, y, w, b):
    r = X @ w + b - y
    return X.T @ r / len(y), r.mean()


def _sum_not_mean(X, y, w, b):  # the seed's "Σ 2(θx − y)x"
    r = X @ w + b - y
    return 2 * X.T @ r, 2 * r.sum()


def _missing_x(X, y, w, b):  # the seed's "−(2/n) Σ (y − ŷ)" used for the weights too
    r = X @ w + b - y
    g = 2 * r.mean()
    return np.full(X.shape[1], g), g


def _flipped(X, y, w, b):
    r = y - (X @ w + b)
    return 2 * X.T @ r / len(y), 2 * r.mean()


def _bias_summed(X, y, w, b):
    r = X @ w + b - y
    return 2 * X.T @ r / len(y), 2 * r.sum()


def _global_n(X, y, w, b):  # divides by the lesson's N = 1000, whatever the batch holds
    r = X @ w + b - y
    return 2 * X.T @ r / 1000, 2 * r.sum() / 1000


def _transposed(X, y, w, b):
    r = X @ w + b - y
    return (2 * X.T @ r / len(y)).reshape(1, -1), 2 * r.mean()


GRADIENT_MISTAKES = [
        (_missing_two, "missing the factor 2"),
        (_sum_not_mean, "gradient of the sum; divide by the number of samples"),
        (_missing_x, "the features are missing"),
        (_flipped, "check the sign"),
        (_bias_summed, "db is the sum of 2·r"),
        (_global_n, r"as if divided by 1000 samples.*divide by the number of samples in this "
                    r"call, len\(y\)"),
        (_transposed, r"expected shape \(\d,\), got \(1, \d\)"),
        (lambda X, y, w, b: 2 * X.T @ (X @ w + b - y) / len(y), "expected a pair"),
]


@pytest.mark.parametrize(("wrong", "message"), GRADIENT_MISTAKES)
def test_gradient_names_the_mistake(wrong, message: str) -> None:
    with pytest.raises(ExerciseFailed, match=message):
        check.mse_gradient(wrong)


def test_gradient_reports_not_implemented() -> None:
    def todo(X, y, w, b):
        raise NotImplementedError

    with pytest.raises(ExerciseFailed, match="not implemented yet"):
        check.mse_gradient(todo)


# ---- 02-sgd-epoch ----


def _epoch_with(update_sign: float = -1.0, shuffle: bool = True, update_b: bool = True,
                loss_after: bool = False):
    def epoch(X, y, w, b, *, lr, batch_size, rng):
        losses = []
        for Xb, yb in batches(X, y, batch_size=batch_size, shuffle=shuffle, random_state=rng):
            if not loss_after:
                losses.append(check.reference_loss(Xb, yb, w, b))
            dw, db = check.reference_gradient(Xb, yb, w, b)
            w = w + update_sign * lr * dw
            if update_b:
                b = b + update_sign * lr * db
            if loss_after:
                losses.append(check.reference_loss(Xb, yb, w, b))
        return w, b, losses

    return epoch


def test_epoch_passes_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    check.sgd_epoch(check.reference_sgd_epoch)
    check.sgd_epoch(_epoch_with())
    assert capsys.readouterr().out.count("✔ 02-sgd-epoch:") == 2


def test_reference_epoch_lowers_the_loss() -> None:
    X, y = linear_data(200, random_state=1)
    w, b = np.zeros(2), 0.0
    before = check.reference_loss(X, y, w, b)
    w, b, losses = check.reference_sgd_epoch(X, y, w, b, lr=0.05, batch_size=10,
                                             rng=np.random.default_rng(0))
    assert len(losses) == 20
    assert check.reference_loss(X, y, w, b) < before / 10


def _epoch_variant(kind: str):
    def epoch(X, y, w, b, *, lr, batch_size, rng):
        if kind == "no random_state":
            order = batches(X, y, batch_size=batch_size)
        elif kind == "own generator":
            order = batches(X, y, batch_size=batch_size, random_state=np.random.default_rng(0))
        else:
            order = batches(X, y, batch_size=batch_size, random_state=rng)
        losses = []
        for Xb, yb in order:
            loss = check.reference_loss(Xb, yb, w, b)
            losses.append(np.array([loss]) if kind == "column losses" else loss)
            if kind == "full gradient":
                dw, db = check.reference_gradient(X, y, w, b)
            else:
                dw, db = check.reference_gradient(Xb, yb, w, b)
            w, b = w - lr * dw, b - lr * db
        if kind == "column losses":
            losses = np.array(losses)  # shape (steps, 1)
        return w, b, losses

    return epoch


def _full_batch(X, y, w, b, *, lr, batch_size, rng):
    loss = check.reference_loss(X, y, w, b)
    dw, db = check.reference_gradient(X, y, w, b)
    return w - lr * dw, b - lr * db, [loss]


def _unchanged(X, y, w, b, *, lr, batch_size, rng):
    losses = [check.reference_loss(Xb, yb, w, b)
              for Xb, yb in batches(X, y, batch_size=batch_size, random_state=rng)]
    return w, b, losses


EPOCH_MISTAKES = [
        (_epoch_with(update_sign=1.0), "moved up the gradient"),
        (_epoch_with(shuffle=False), "shuffle them"),
        (_epoch_with(update_b=False), "b never changed"),
        (_epoch_with(loss_after=True), "record each batch's loss before its update"),
        (_full_batch, r"an epoch has \d+ steps"),
        (_unchanged, "came back unchanged"),
        (_epoch_variant("no random_state"), r"different batches\): pass random_state=rng"),
        (_epoch_variant("own generator"), r"another rng\): pass random_state=rng"),
        (_epoch_variant("full gradient"), "gradient of the full X, y; compute it on the batch"),
        (_epoch_variant("column losses"), r"shape \(4,\), got \(4, 1\): append float\(loss\)"),
        (lambda X, y, w, b, *, lr, batch_size, rng: (w, b), "expected a triple"),
]


@pytest.mark.parametrize(("wrong", "message"), EPOCH_MISTAKES)
def test_epoch_names_the_mistake(wrong, message: str) -> None:
    with pytest.raises(ExerciseFailed, match=message):
        check.sgd_epoch(wrong)


def _own_choice_shuffle(X, y, w, b, *, lr, batch_size, rng):
    order = rng.choice(len(y), len(y), replace=False)  # not rng.permutation's order
    losses = []
    for start in range(0, len(y), batch_size):
        rows = order[start:start + batch_size]
        losses.append(check.reference_loss(X[rows], y[rows], w, b))
        dw, db = check.reference_gradient(X[rows], y[rows], w, b)
        w, b = w - lr * dw, b - lr * db
    return w, b, losses


def test_epoch_names_a_shuffle_of_its_own() -> None:
    with pytest.raises(ExerciseFailed, match=r"in the order rng.choice\(N, N, replace=False\) "
                                             r"draws; the order must be the one data.batches"
                                             r".*rng.permutation\(N\)"):
        check.sgd_epoch(_own_choice_shuffle)


# ---- valid versions written differently ----


def _gradient_by_loops(X, y, w, b):
    residual = [float(X[i] @ w + b - y[i]) for i in range(len(y))]
    dw = np.zeros(X.shape[1])
    for i, r in enumerate(residual):
        dw += 2.0 * r * X[i] / len(y)
    return [dw, np.float64(2.0 * sum(residual) / len(y))]  # a list, and a NumPy scalar


def _gradient_broadcast(X, y, w, b):
    residual = (X @ w + b - y)[:, None]  # (N, 1)
    return (2 * residual * X).mean(axis=0), np.array(2 * residual.mean())  # db 0-d


def _epoch_own_permutation(X, y, w, b, *, lr, batch_size, rng):
    order = np.arange(len(y))
    rng.shuffle(order)  # the same order as rng.permutation, hence as data.batches
    w = w.copy()
    losses = np.zeros(-(-len(y) // batch_size))
    for k, start in enumerate(range(0, len(y), batch_size)):
        Xb, yb = X[order[start:start + batch_size]], y[order[start:start + batch_size]]
        losses[k] = np.mean((Xb @ w + b - yb) ** 2)
        dw, db = check.reference_gradient(Xb, yb, w, b)
        w -= lr * dw  # in place on the copy
        b -= lr * db
    return w.tolist(), b, losses  # w as a list, losses as an array


def _predict_einsum(X, w, b):
    return np.einsum("nd,d->n", X, w) + b


def _mse_by_dot(X, y, w, b):
    residual = _predict_einsum(X, w, b) - y
    return residual @ residual / len(y)  # a NumPy float


def _predict_by_rows(X, w, b):
    return np.array([row @ w + b for row in X])


def _mse_target_first(X, y, w, b):
    return np.square(y - _predict_by_rows(X, w, b)).mean()  # y − ŷ squares the same


def _predict_transposed(X, w, b):
    return np.dot(w, X.T) + b  # (d,) @ (d, N) -> (N,)


def _mse_by_norm(X, y, w, b):
    return float(np.linalg.norm(_predict_transposed(X, w, b) - y) ** 2 / y.size)


def _gradient_einsum(X, y, w, b):
    residual = np.einsum("nd,d->n", X, w) + b - y
    return 2 * np.einsum("nd,n->d", X, residual) / len(y), 2 * residual.sum() / len(y)


def _epoch_in_place(X, y, w, b, *, lr, batch_size, rng):
    w, losses = np.array(w, dtype=float), []  # a copy, updated in place below
    for Xb, yb in batches(X, y, batch_size=batch_size, random_state=rng):
        residual = Xb @ w + b - yb
        losses.append(float(residual @ residual / len(yb)))
        w -= lr * 2 * Xb.T @ residual / len(yb)
        b -= lr * 2 * residual.mean()
    return w, float(b), losses


def _epoch_in_float32(X, y, w, b, *, lr, batch_size, rng):  # cast "for speed": accepted
    losses = []
    w = w.astype(np.float32)
    for Xb, yb in batches(X.astype(np.float32), y.astype(np.float32), batch_size=batch_size,
                          random_state=rng):
        residual = Xb @ w + np.float32(b) - yb
        losses.append(float(np.mean(residual**2)))
        w = w - np.float32(lr) * 2 * Xb.T @ residual / np.float32(len(yb))
        b = np.float32(b - lr * 2 * residual.mean())
    return w, b, losses


#: Every exercise of lesson 02 -> valid versions a student could write in its solution cell
#: (02-model-and-loss: a (predict, mse) pair, in the check call's order).
VALID_VERSIONS: dict[str, list[object]] = {
    "02-model-and-loss": [(_predict_einsum, _mse_by_dot), (_predict_by_rows, _mse_target_first),
                          (_predict_transposed, _mse_by_norm)],
    "02-mse-gradient": [_gradient_by_loops, _gradient_broadcast, _gradient_einsum],
    "02-sgd-epoch": [_epoch_with(), _epoch_own_permutation, _epoch_in_place, _epoch_in_float32],
}


@pytest.mark.parametrize("model", VALID_VERSIONS["02-model-and-loss"])
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_model_and_loss_pass_valid_versions_on_any_inputs(model, seed) -> None:
    if seed is None:
        check.model_and_loss(*model)
    else:
        check.MODEL_AND_LOSS.check(*model, seed=seed)


@pytest.mark.parametrize("gradient", [check.reference_gradient,
                                      *VALID_VERSIONS["02-mse-gradient"]])
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_gradient_passes_valid_versions_on_any_inputs(gradient, seed) -> None:
    if seed is None:
        check.mse_gradient(gradient)
    else:
        check.MSE_GRADIENT.check(gradient, seed=seed)


@pytest.mark.parametrize("epoch", [check.reference_sgd_epoch, *VALID_VERSIONS["02-sgd-epoch"]])
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_epoch_passes_valid_versions_on_any_inputs(epoch, seed) -> None:
    if seed is None:
        check.sgd_epoch(epoch)
    else:
        check.SGD_EPOCH.check(epoch, seed=seed)




# ---- the probes return plain data; the judges refuse odd data ----


def _inputs(exercise):
    return round_trip(exercise.inputs(np.random.default_rng(7)))


@pytest.mark.parametrize("student", [check.reference_gradient, _flipped, _transposed,
                                     lambda X, y, w, b: None, lambda X, y, w, b: 1 / 0,
                                     "not a function"])
def test_gradient_probe_data_survives_the_wire(student) -> None:
    inputs = _inputs(check.MSE_GRADIENT)
    data = check.MSE_GRADIENT.probe(inputs, student)
    assert check.MSE_GRADIENT.verdict(inputs, round_trip(data)) == \
        check.MSE_GRADIENT.verdict(inputs, data)


@pytest.mark.parametrize("student", [check.reference_sgd_epoch, _unchanged,
                                     _epoch_variant("column losses"), _own_choice_shuffle,
                                     lambda X, y, w, b, *, lr, batch_size, rng: (w, b)])
def test_epoch_probe_data_survives_the_wire(student) -> None:
    inputs = _inputs(check.SGD_EPOCH)
    data = check.SGD_EPOCH.probe(inputs, student)
    assert check.SGD_EPOCH.verdict(inputs, round_trip(data)) == \
        check.SGD_EPOCH.verdict(inputs, data)


def _hostile(data):
    """Odd versions of a probe's honest data: wrong lengths, kinds and shapes."""
    number = {"kind": "float", "type": "float", "value": 0.0}
    yield None
    yield {"kind": "float", "value": 1.0}
    yield data[:-1]
    yield [*data, data[-1]]
    yield [number] * len(data)
    yield [{"kind": "str", "value": "✔"}] * len(data)
    yield [{"kind": "list", "type": "tuple", "length": 2, "items": [number, number]}] * len(data)
    yield [{"kind": "array", "type": "ndarray", "dtype": "float64", "shape": [2],
            "value": np.zeros(3)}] * len(data)
    yield [{"nonsense": True}] * len(data)
    yield [[item] for item in data]
    yield {"kind": "raised", "type": "RuntimeError", "message": "boom", "frame": "",
           "stub": False, "below_raise": False}


@pytest.mark.parametrize("exercise", ["MSE_GRADIENT", "SGD_EPOCH"])
def test_judges_fail_odd_data(exercise) -> None:
    exercise = getattr(check, exercise)
    inputs = _inputs(exercise)
    student = check.reference_gradient if exercise is check.MSE_GRADIENT \
        else check.reference_sgd_epoch
    honest = round_trip(exercise.probe(inputs, student))
    assert exercise.verdict(inputs, honest)[0]
    for data in _hostile(honest):
        ok, message = exercise.verdict(inputs, data)
        assert not ok, data
        assert message


@pytest.mark.parametrize("student", [(check.reference_predict, check.reference_loss),
                                     *VALID_VERSIONS["02-model-and-loss"],
                                     *(wrong for wrong, _ in MODEL_MISTAKES),
                                     (lambda X, w, b: None, mse), (predict, "not a function")])
def test_model_probe_data_survives_the_wire(student) -> None:
    inputs = _inputs(check.MODEL_AND_LOSS)
    data = check.MODEL_AND_LOSS.probe(inputs, *student)
    assert check.MODEL_AND_LOSS.verdict(inputs, round_trip(data)) == \
        check.MODEL_AND_LOSS.verdict(inputs, data)


def test_model_judge_fails_odd_data() -> None:
    inputs = _inputs(check.MODEL_AND_LOSS)
    honest = round_trip(check.MODEL_AND_LOSS.probe(inputs, check.reference_predict,
                                                   check.reference_loss))
    assert check.MODEL_AND_LOSS.verdict(inputs, honest)[0]
    odd = [{"predict": honest["predict"]}, {**honest, "extra": None}, honest["mse"]]
    for part in ("predict", "mse"):
        odd += [{**honest, part: data} for data in _hostile(honest[part])]
    for data in odd:
        ok, message = check.MODEL_AND_LOSS.verdict(inputs, data)
        assert not ok, data
        assert message


@pytest.mark.parametrize(
    ("exercise", "wrong", "message"),
    [(check.MODEL_AND_LOSS, *case) for case in MODEL_MISTAKES] +
    [(check.MSE_GRADIENT, *case) for case in GRADIENT_MISTAKES] +
    [(check.SGD_EPOCH, *case) for case in EPOCH_MISTAKES] +
    [(check.SGD_EPOCH, _own_choice_shuffle, r"in the order rng.choice\(N, N, replace=False\)")],
)
def test_mistakes_are_named_on_fresh_inputs(exercise, wrong, message: str) -> None:
    # grading draws fresh inputs: every mistake above keeps its message on them
    for seed in range(1, 6):
        with np.errstate(all="ignore"), pytest.raises(ExerciseFailed, match=message):
            exercise.check(*(wrong if isinstance(wrong, tuple) else (wrong,)), seed=seed)



# ---- red-team cases (REDTEAM-A) ----

_NOTEBOOK_X, _NOTEBOOK_Y = linear_data(1000, weights=np.array([2.0, -3.4]), bias=4.2, noise=0.01,
                                       random_state=0)


def _mse_over_1000(X, y, w, b):  # the notebook's N written in
    return float(np.sum((predict(X, w, b) - y) ** 2) / 1000)


def _predict_scaling_X(X, w, b):
    X *= 1.0
    X[0] = 0.0  # written into the caller's X
    return X @ w + b


def _epoch_on_the_notebooks_data(X, y, w, b, *, lr, batch_size, rng):
    losses = []
    for Xb, yb in batches(_NOTEBOOK_X, _NOTEBOOK_Y, batch_size=batch_size, random_state=rng):
        residual = Xb @ w + b - yb
        losses.append(float(np.mean(residual**2)))
        w, b = w - lr * 2 * Xb.T @ residual / len(yb), b - lr * 2 * residual.mean()
    return w, b, losses


def _epoch_centring_y(X, y, w, b, *, lr, batch_size, rng):
    y -= 0.0
    y[0] += 1.0  # the caller's y changed
    y[0] -= 1.0
    X[:, 0] += 0.5  # the caller's X changed
    X[:, 0] -= 0.5
    return check.reference_sgd_epoch(X + 1e-3, y, w, b, lr=lr, batch_size=batch_size, rng=rng)


def test_mse_names_a_hard_coded_number_of_samples() -> None:
    with pytest.raises(ExerciseFailed, match="that divides by 1000, the notebook's number of "
                                             r"samples; this call has N=\d+: divide by"):
        check.model_and_loss(predict, _mse_over_1000)


def test_predict_refuses_an_X_changed_in_place() -> None:
    with pytest.raises(ExerciseFailed, match="your function changed `X` in place"):
        check.model_and_loss(_predict_scaling_X, mse)


def test_epoch_names_a_loop_over_the_notebooks_data() -> None:
    with pytest.raises(ExerciseFailed, match="as many as the notebook's 1000 rows give: loop "
                                             "over the X and y passed in"):
        check.sgd_epoch(_epoch_on_the_notebooks_data)


@pytest.mark.parametrize("seed", [None, 1, 2, 3, 4, 5, 6, 7, 8])
def test_float32_arithmetic_is_accepted_on_every_seed(seed, capsys) -> None:
    if seed is None:
        check.sgd_epoch(_epoch_in_float32)
    else:
        check.SGD_EPOCH.check(_epoch_in_float32, seed=seed)
    assert "✔ 02-sgd-epoch" in capsys.readouterr().out


def test_epoch_refuses_an_X_or_y_changed_in_place() -> None:
    with pytest.raises(ExerciseFailed, match="your function changed `X` and `y` in place"):
        check.sgd_epoch(_epoch_centring_y)
