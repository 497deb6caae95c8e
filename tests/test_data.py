"""coursekit.data: shapes, geometry, seeding without global state, and clear errors."""

import nnfs.datasets
import numpy as np
import pytest

from coursekit import data


def test_three_points_lie_on_the_diagonal():
    x, y = data.three_points()
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(y, x)


def test_linear_data_recovers_its_parameters_by_least_squares():
    X, y = data.linear_data(5000, noise=0.01, random_state=0)
    assert X.shape == (5000, 2) and y.shape == (5000,)
    design = np.column_stack([X, np.ones(len(X))])
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(coef, [*data.TRUE_WEIGHTS, data.TRUE_BIAS], atol=1e-3)


def test_linear_data_takes_any_number_of_weights():
    X, y = data.linear_data(10, weights=[1.0, 2.0, 3.0], bias=0.0, noise=0.0, random_state=1)
    np.testing.assert_allclose(y, X @ [1.0, 2.0, 3.0])


def test_spiral_shapes_and_labels():
    X, y = data.spiral(50, n_classes=4, random_state=0)
    assert X.shape == (200, 2) and y.shape == (200,)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [50] * 4)


def test_spiral_has_the_geometry_of_nnfs():
    """Same radii and same angular layout as nnfs's spiral_data, whose noise is global."""
    saved = np.random.get_state()  # nnfs draws from the global generator; leave it as found
    try:
        np.random.seed(0)
        X_nnfs, y_nnfs = nnfs.datasets.spiral_data(samples=200, classes=3)
    finally:
        np.random.set_state(saved)
    X, y = data.spiral(200, n_classes=3, noise=0.2, random_state=0)
    np.testing.assert_array_equal(y, y_nnfs)
    np.testing.assert_allclose(np.hypot(X[:, 0], X[:, 1]),
                               np.hypot(X_nnfs[:, 0], X_nnfs[:, 1]), atol=1e-6)
    # Angle residual after removing the noise-free arm: noise of the same scale (0.2 * 2.5).
    for points in (X, X_nnfs):
        angle = np.arctan2(points[:, 0], points[:, 1])
        clean = 2.5 * np.concatenate([np.linspace(4 * c, 4 * (c + 1), 200) for c in range(3)])
        residual = np.angle(np.exp(1j * (angle - clean)))[np.hypot(*points.T) > 0.05]
        assert 0.35 < residual.std() < 0.65


def test_seeds_reproduce_and_generators_advance():
    a, _ = data.spiral(20, random_state=3)
    b, _ = data.spiral(20, random_state=3)
    np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(3)
    c, _ = data.spiral(20, random_state=rng)
    d, _ = data.spiral(20, random_state=rng)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(c, d)


def test_nothing_touches_global_random_state():
    before = np.random.get_state()[1].copy()
    data.spiral(10, random_state=None)
    data.linear_data(10)
    data.circles(100, random_state=1)
    data.load_digits(random_state=2)
    list(data.batches(np.zeros((10, 2)), np.zeros(10), batch_size=3))
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_circles_with_lesson_07s_seed():
    split = data.circles(random_state=26)
    assert split.X_train.shape == (6700, 2) and split.X_test.shape == (3300, 2)
    radius = np.hypot(*split.X_test.T)
    inner = split.y_test == 1
    assert radius[inner].mean() == pytest.approx(0.8, abs=0.01)
    assert radius[~inner].mean() == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize(("loader", "n_features", "n_classes"),
                         [(data.load_digits, 64, 10), (data.load_breast_cancer, 30, 2)])
def test_loaders_standardise_with_training_statistics_only(loader, n_features, n_classes):
    split = loader(random_state=0)
    assert split.X_train.shape[1] == n_features
    assert len(np.unique(split.y_train)) == n_classes
    varying = split.X_train.std(axis=0) > 0
    np.testing.assert_allclose(split.X_train.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(split.X_train.std(axis=0)[varying], 1.0, rtol=1e-10)
    # The test split is scaled with the training statistics, so it is not exactly standard.
    assert np.abs(split.X_test.mean(axis=0)).max() > 1e-3


def test_raw_digits_follow_the_same_split_and_standardise_back():
    raw = data.load_digits(random_state=0, raw=True)
    split = data.load_digits(random_state=0)
    np.testing.assert_array_equal(raw.y_train, split.y_train)
    np.testing.assert_array_equal(raw.y_test, split.y_test)
    assert raw.X_train.dtype == np.float64 and raw.X_train.min() == 0 and raw.X_train.max() == 16
    X_train, X_test = data.standardise(raw.X_train, raw.X_test)
    np.testing.assert_array_equal(X_train, split.X_train)
    np.testing.assert_array_equal(X_test, split.X_test)


def test_standardise_uses_the_statistics_of_its_first_argument_only():
    X_fit = np.array([[0.0, 1.0, 5.0], [2.0, 1.0, 7.0], [4.0, 1.0, 9.0]])
    X_val = np.array([[2.0, 3.0, 7.0], [6.0, 1.0, 1.0]])
    fit, val = data.standardise(X_fit, X_val)
    np.testing.assert_allclose(fit.mean(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(fit.std(axis=0), [1.0, 0.0, 1.0])  # constant column: centred
    scale = np.sqrt(8 / 3)
    np.testing.assert_allclose(val, [[0.0, 2.0, 0.0], [4 / scale, 0.0, -6 / scale]])
    assert data.standardise(X_fit)[0].shape == (3, 3)
    # the rows passed after the first play no part in the statistics
    np.testing.assert_array_equal(data.standardise(X_fit, X_val * 100)[0], fit)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.zeros(3),),
         r"X_fit must have shape \(n_fit, n_features\) with n_fit >= 1, got \(3,\)"),
        ((np.zeros((0, 2)),), r"n_fit >= 1, got \(0, 2\)"),
        ((np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 3))),
         r"others\[1\] must have shape \(n_rows, 2\) like X_fit, got \(2, 3\)"),
    ],
)
def test_standardise_refuses_mismatched_shapes(args, message):
    with pytest.raises(ValueError, match=message):
        data.standardise(*args)


def test_batches_cover_every_row_once():
    X = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    seen = list(data.batches(X, y, batch_size=4, random_state=0))
    assert [len(b) for b, _ in seen] == [4, 4, 2]
    rows = np.concatenate([yb for _, yb in seen])
    np.testing.assert_array_equal(np.sort(rows), y)
    for xb, yb in seen:
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)  # rows stay paired
    unshuffled = np.concatenate([yb for _, yb in data.batches(X, y, batch_size=3,
                                                              shuffle=False)])
    np.testing.assert_array_equal(unshuffled, y)


def test_steps_per_epoch_rounds_up():
    assert data.steps_per_epoch(10, 4) == 3
    assert data.steps_per_epoch(8, 4) == 2


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: data.spiral(0), "n_per_class must be an int >= 2"),
        (lambda: data.spiral(10, n_classes=1), "n_classes must be an int >= 2"),
        (lambda: data.spiral(10, noise=-1), "noise must be a finite number >= 0"),
        (lambda: data.spiral(10, random_state=-3), "non-negative"),
        (lambda: data.spiral(10, random_state="seed"), "random_state must be an int"),
        (lambda: data.linear_data(0), "n_samples must be an int >= 1"),
        (lambda: data.linear_data(5, weights=[]), "weights must be a non-empty 1-D"),
        (lambda: data.circles(test_size=1.5), r"test_size must be in the open range \(0, 1\)"),
        (lambda: data.circles(factor=1.0), "factor must be in the open range"),
        (lambda: data.load_digits(test_size=0), "test_size"),
        # batches checks when called, before the first next()
        (lambda: data.batches(np.zeros((5, 2)), np.zeros(4), batch_size=2),
         r"same number of rows, got shapes \(5, 2\) and \(4,\)"),
        (lambda: data.batches(np.zeros((5, 2)), np.zeros(5), batch_size=0),
         "batch_size must be an int >= 1"),
        (lambda: data.circles(random_state=-1), "non-negative"),
        (lambda: data.linear_data(5, noise=float("nan")), "noise must be a finite number"),
        (lambda: data.steps_per_epoch(10, 0), "batch_size"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_spiral_bayes_predict_is_the_ceiling_and_exact_without_much_noise():
    X, y = data.spiral(1000, random_state=0)
    accuracy = np.mean(data.spiral_bayes_predict(X) == y)
    assert 0.88 < accuracy < 0.95  # arms overlap where the angle noise carries points across
    X, y = data.spiral(200, n_classes=4, noise=0.01, random_state=1)
    predicted = data.spiral_bayes_predict(X, n_classes=4, noise=0.01)
    assert predicted.dtype == np.int64
    assert np.mean(predicted == y) > 0.97  # only points near the centre, where arms meet, miss
