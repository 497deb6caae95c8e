"""coursekit.plot: what each helper draws, that it returns its Axes, and its errors."""

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest

from coursekit import data, plot


@pytest.fixture
def ax():
    return plt.figure().gca()


def test_class_scatter_draws_one_collection_per_class(ax):
    X, y = data.spiral(20, n_classes=3, random_state=0)
    assert plot.class_scatter(X, y, ax=ax, title="spiral") is ax
    assert len(ax.collections) == 3
    assert sum(len(c.get_offsets()) for c in ax.collections) == 60
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "class 0", "class 1", "class 2"]
    assert ax.get_title() == "spiral"


def test_class_scatter_defaults_to_the_current_axes():
    current = plt.figure().gca()
    X, y = data.spiral(5, random_state=0)
    assert plot.class_scatter(X, y) is current


def test_train_test_scatter_makes_two_titled_panels():
    split = data.circles(200, random_state=1)
    left, right = plot.train_test_scatter(*split[:1], split.y_train, split.X_test, split.y_test)
    assert left.get_title() == f"train ({len(split.X_train)} points)"
    assert right.get_title() == f"test ({len(split.X_test)} points)"
    assert sum(len(c.get_offsets()) for c in left.collections) == len(split.X_train)
    _, held_out = plot.train_test_scatter(split.X_train, split.y_train, split.X_test,
                                          split.y_test, names=("train", "validation"))
    assert held_out.get_title() == f"validation ({len(split.X_test)} points)"


def test_train_test_scatter_draws_with_its_own_shared_axes():
    # Equal aspect with adjustable="datalim" raises at draw time when both axes are shared.
    X, y = data.spiral(10, random_state=0)
    left, right = plot.train_test_scatter(X, y, X, y)
    left.figure.canvas.draw()
    assert left.get_aspect() == right.get_aspect() == 1.0


def test_loss_curve_axis_is_in_epochs_computed_from_the_data(ax):
    n_samples, batch_size = 1000, 64
    per_epoch = data.steps_per_epoch(n_samples, batch_size)  # 16
    losses = np.linspace(1.0, 0.1, 3 * per_epoch)
    plot.loss_curve(losses, steps_per_epoch=per_epoch, recorded="after_step", ax=ax,
                    label="train")
    (line,) = ax.lines
    assert len(line.get_xdata()) == 48
    assert line.get_xdata()[-1] == pytest.approx(3.0)
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"
    assert ax.get_legend().get_texts()[0].get_text() == "train"


def test_loss_curve_without_epochs_uses_steps_and_log_scale(ax):
    plot.loss_curve([3.0, 2.0, 1.0], recorded="before_step", ax=ax, log=True)
    assert list(ax.lines[0].get_xdata()) == [0, 1, 2]
    assert ax.get_xlabel() == "step" and ax.get_yscale() == "log"


@pytest.mark.parametrize(("recorded", "first"), [("before_step", 0), ("after_step", 1)])
def test_loss_curve_draws_each_value_where_it_was_measured(ax, recorded, first):
    # 10 values, 4 steps per epoch: a loss from the step's own forward pass measures the
    # weights after k steps (x = k / 4); a loss measured after the update, after k + 1.
    losses = np.linspace(2.0, 1.0, 10)
    plot.loss_curve(losses, steps_per_epoch=4, recorded=recorded, ax=ax)
    plot.loss_curve(losses, recorded=recorded, ax=ax)
    by_epoch, by_step = ax.lines
    np.testing.assert_array_equal(by_epoch.get_xdata(), (np.arange(10) + first) / 4)
    np.testing.assert_array_equal(by_step.get_xdata(), np.arange(10) + first)
    np.testing.assert_array_equal(by_epoch.get_ydata(), losses)


def test_loss_curve_asks_when_the_losses_were_recorded(ax):
    with pytest.raises(TypeError, match="recorded"):
        plot.loss_curve([1.0, 0.5], steps_per_epoch=2, ax=ax)  # one step off looks right too


def test_steps_taken_counts_the_updates_made_when_each_value_was_measured():
    before = plot.steps_taken(3, recorded="before_step")
    assert before.dtype == np.float64 and list(before) == [0.0, 1.0, 2.0]
    assert list(plot.steps_taken(3, recorded="after_step")) == [1.0, 2.0, 3.0]
    assert plot.RECORDED == ("before_step", "after_step")


def test_decision_boundary_colours_the_plane_and_shows_points(ax):
    X, y = data.spiral(30, n_classes=3, random_state=0)
    calls = []

    def predict(grid):
        calls.append(grid.shape)
        return np.digitize(grid[:, 0], [-0.3, 0.3])

    assert plot.decision_boundary(predict, X, y, ax=ax, resolution=50) is ax
    assert calls == [(2500, 2)]
    scatters = [c for c in ax.collections if isinstance(c, mpl.collections.PathCollection)]
    assert len(scatters) == 3  # one per class, on top of the filled regions
    assert len(ax.collections) > len(scatters)
    assert sum(len(c.get_offsets()) for c in scatters) == 90


def test_cost_curve_draws_the_curve_and_the_path(ax):
    path = [0.0, 0.5, 0.75, 0.875]
    plot.cost_curve(lambda t: (t - 1.0) ** 2, path, ax=ax)
    curve, dots = ax.lines
    assert len(dots.get_xdata()) == 4
    assert len([c for c in ax.get_children() if isinstance(c, mpl.text.Annotation)]) == 3
    assert dots.get_label() == "descent path (3 steps)"
    assert ax.get_xlabel() == "θ"


def test_cost_curve_keeps_only_the_path_inside_the_range(ax):
    plot.cost_curve(lambda t: t**2, [5.0, -4.0, 0.5], theta_range=(-1.0, 1.0), ax=ax)
    assert list(ax.lines[1].get_xdata()) == [0.5]


def test_helpers_leave_rcparams_alone(ax):
    before = dict(mpl.rcParams)
    X, y = data.spiral(5, random_state=0)
    plot.class_scatter(X, y, ax=ax)
    plot.loss_curve([1.0], recorded="before_step", ax=ax)
    assert dict(mpl.rcParams) == before


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: plot.class_scatter(np.zeros((4, 3)), np.zeros(4)),
         r"X must have shape \(n_samples, 2\), got \(4, 3\)"),
        (lambda: plot.class_scatter(np.zeros((4, 2)), np.zeros(3)), r"y must have shape \(4,\)"),
        (lambda: plot.loss_curve([], recorded="before_step"), "losses is empty"),
        (lambda: plot.loss_curve([1.0], steps_per_epoch=0, recorded="before_step"),
         "steps_per_epoch must be an int"),
        (lambda: plot.loss_curve([1.0], recorded="before"),
         "recorded must be one of 'before_step', 'after_step', got 'before'"),
        (lambda: plot.steps_taken(2, recorded=None), "recorded must be one of"),
        (lambda: plot.steps_taken(0, recorded="after_step"), "n_values must be an int >= 1"),
        (lambda: plot.decision_boundary(lambda g: g, np.zeros((3, 2)), np.zeros(3)),
         "predict must return one label per row"),
        (lambda: plot.decision_boundary(lambda g: g[:, 0], np.zeros((3, 2)), np.zeros(3),
                                        resolution=1), "resolution must be an int >= 2"),
        (lambda: plot.cost_curve(lambda t: t, [], ax=None), "path is empty"),
        (lambda: plot.cost_curve(lambda t: t, theta_range=(1.0, 0.0)), "low < high"),
        (lambda: plot.train_test_scatter(np.zeros((2, 2)), np.zeros(2), np.zeros((2, 2)),
                                         np.zeros(2), axes=[plt.figure().gca()]),
         "axes must hold exactly 2 Axes"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
