"""Plot helpers of the lessons.

Each takes ``ax=None`` (drawing on ``plt.gca()`` when omitted), returns what it drew on, and
never calls ``plt.show()`` nor changes ``rcParams``: the lesson decides when to show.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, get_args

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from coursekit.validation import check_choice, check_int

#: When a per-step value was measured: in the step's own forward pass, before its update (the
#: usual loop: forward, loss, backward, step), or once the update is made.
Recorded = Literal["before_step", "after_step"]
RECORDED: tuple[str, ...] = get_args(Recorded)


def _axes(ax: Axes | None) -> Axes:
    return plt.gca() if ax is None else ax


def _check_points(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).ravel()
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n_samples, 2), got {X.shape}")
    if len(y) != len(X):
        raise ValueError(f"y must have shape ({len(X)},) to match X, got {np.shape(y)}")
    return X, y


def class_scatter(
    X: np.ndarray, y: np.ndarray, *, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """Scatter 2-D points coloured by class, one legend entry per class.

    Parameters
    ----------
    X : ndarray of shape (n_samples, 2)
    y : ndarray of shape (n_samples,)
        Class labels (any sortable values).
    """
    X, y = _check_points(X, y)
    ax = _axes(ax)
    for label in np.unique(y):
        rows = y == label
        ax.scatter(X[rows, 0], X[rows, 1], s=8, alpha=0.8, label=f"class {label}")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper right", fontsize="small")
    if title is not None:
        ax.set_title(title)
    return ax


def train_test_scatter(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    axes: Sequence[Axes] | None = None,
    names: tuple[str, str] = ("train", "test"),
) -> tuple[Axes, Axes]:
    """The training and the test points side by side, with shared limits.

    Parameters
    ----------
    X_train : ndarray of shape (n_train, 2)
    y_train : ndarray of shape (n_train,)
    X_test : ndarray of shape (n_test, 2)
    y_test : ndarray of shape (n_test,)
        The held-out points: test, or validation with ``names=("train", "validation")``.
    axes : two Axes, or None to make a new figure with two panels
    names : the two panels' titles, before their point counts
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharex=True, sharey=True)
    if len(axes) != 2:
        raise ValueError(f"axes must hold exactly 2 Axes, got {len(axes)}")
    left, right = axes
    class_scatter(X_train, y_train, ax=left, title=f"{names[0]} ({len(X_train)} points)")
    class_scatter(X_test, y_test, ax=right, title=f"{names[1]} ({len(X_test)} points)")
    for ax in (left, right):
        # Shared axes cannot stretch their data limits to keep the aspect ("datalim" raises
        # at draw time); resizing the box keeps x and y in proportion instead.
        ax.set_aspect("equal", adjustable="box")
    return left, right


def steps_taken(n_values: int, *, recorded: Recorded) -> np.ndarray:
    """How many optimisation steps had been taken when each of ``n_values`` values was measured.

    Parameters
    ----------
    n_values : int
        Values recorded, one per step (at least 1).
    recorded : {"before_step", "after_step"}
        ``"before_step"``: the value comes from the step's own forward pass, before its update
        (the usual loop: forward, loss, backward, step), so the k-th value (from 0) measures
        the weights after k steps. ``"after_step"``: it is measured once the update is made,
        after k + 1 steps.

    Returns
    -------
    ndarray of shape (n_values,), float64
        ``0, 1, ..., n_values - 1`` before the step, ``1, ..., n_values`` after it; divide by
        the steps per epoch for an axis in epochs.
    """
    n_values = check_int("n_values", n_values)
    first = 1 if check_choice("recorded", recorded, RECORDED) == "after_step" else 0
    return np.arange(first, first + n_values, dtype=np.float64)


def loss_curve(
    losses: Sequence[float] | np.ndarray,
    *,
    steps_per_epoch: int | None = None,
    recorded: Recorded,
    ax: Axes | None = None,
    label: str | None = None,
    log: bool = False,
) -> Axes:
    """Plot a loss recorded once per step, against epochs computed from the data.

    Parameters
    ----------
    losses : sequence of float of length n_steps
        One value per optimisation step (or per epoch, with ``steps_per_epoch=1``).
    steps_per_epoch : int or None
        Steps in one epoch, e.g. ``coursekit.data.steps_per_epoch(n_samples, batch_size)``;
        the x-axis is the number of steps taken (:func:`steps_taken`) divided by it. ``None``
        plots against the number of steps taken.
    recorded : {"before_step", "after_step"}
        When each loss was measured (required: a curve one step off looks right).
        ``"before_step"`` is the batch loss of the usual loop (forward, loss, backward, step),
        drawn at the step's start: the k-th
        value (from 0) at k steps, ``k / steps_per_epoch`` epochs. ``"after_step"`` is a loss
        measured once the step is made (e.g. on all the data), drawn at k + 1 steps.
    log : bool
        Log-scale y-axis (losses spanning decades).
    """
    values = np.asarray(losses, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("losses is empty: record at least one value")
    x = steps_taken(values.size, recorded=recorded)
    if steps_per_epoch is not None:
        x = x / check_int("steps_per_epoch", steps_per_epoch)
    ax = _axes(ax)
    ax.set_xlabel("step" if steps_per_epoch is None else "epoch")
    ax.plot(x, values, label=label)
    ax.set_ylabel("loss")
    if log:
        ax.set_yscale("log")
    if label is not None:
        ax.legend()
    return ax


def decision_boundary(
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    *,
    ax: Axes | None = None,
    resolution: int = 200,
    padding: float = 0.1,
    title: str | None = None,
) -> Axes:
    """Colour the plane by ``predict`` and draw the labelled points on top.

    Parameters
    ----------
    predict : callable taking ndarray of shape (m, 2) and returning labels of shape (m,)
        Any model: a NumPy network, a torch module wrapped in a function, scikit-learn.
    X : ndarray of shape (n_samples, 2)
    y : ndarray of shape (n_samples,)
    resolution : int
        Grid points per axis (>= 2).
    padding : float
        Margin around the data, as a fraction of its range.
    """
    X, y = _check_points(X, y)
    resolution = check_int("resolution", resolution, minimum=2)
    ax = _axes(ax)
    low, high = X.min(axis=0), X.max(axis=0)
    margin = padding * (high - low)
    xs = np.linspace(low[0] - margin[0], high[0] + margin[0], resolution, dtype=np.float64)
    ys = np.linspace(low[1] - margin[1], high[1] + margin[1], resolution, dtype=np.float64)
    grid_x, grid_y = np.meshgrid(xs, ys)
    grid = np.column_stack([grid_x.ravel(), grid_y.ravel()])
    labels = np.asarray(predict(grid)).ravel()
    if labels.shape != (len(grid),):
        raise ValueError(
            f"predict must return one label per row: expected shape ({len(grid)},), "
            f"got {np.shape(labels)}"
        )
    classes = np.unique(np.concatenate([labels, y]))
    # Map labels to 0..k-1 so the colours of regions and points agree.
    index = np.searchsorted(classes, labels).reshape(grid_x.shape)
    cmap = plt.get_cmap("tab10")
    ax.contourf(grid_x, grid_y, index, levels=np.arange(len(classes) + 1, dtype=np.float64) - 0.5,
                colors=[cmap(i) for i in range(len(classes))], alpha=0.25)
    for i, label in enumerate(classes):
        rows = y == label
        if rows.any():
            ax.scatter(X[rows, 0], X[rows, 1], s=8, color=cmap(i), label=f"class {label}")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.legend(loc="upper right", fontsize="small")
    if title is not None:
        ax.set_title(title)
    return ax


def cost_curve(
    cost: Callable[[float], float],
    path: Sequence[float] | np.ndarray | None = None,
    *,
    theta_range: tuple[float, float] | None = None,
    ax: Axes | None = None,
    label: str | None = None,
    n_points: int = 200,
) -> Axes:
    """Draw J(θ) over a range and, optionally, the path gradient descent took on it.

    Parameters
    ----------
    cost : callable float -> float
        The cost J(θ) of a one-parameter model.
    path : sequence of float of length n_steps + 1, or None
        θ after each step, starting with the initial value; drawn as dots joined by arrows.
    theta_range : (low, high) or None
        The θ range to draw; by default it covers the path (or [-1, 3]) with a margin.
    """
    ax = _axes(ax)
    thetas = None if path is None else np.asarray(path, dtype=np.float64).ravel()
    if thetas is not None and thetas.size == 0:
        raise ValueError("path is empty: pass at least the initial θ")
    if theta_range is None:
        if thetas is None or not np.all(np.isfinite(thetas)):
            low, high = -1.0, 3.0
        else:
            low, high = float(thetas.min()), float(thetas.max())
            span = max(high - low, 1.0)
            low, high = low - 0.2 * span, high + 0.2 * span
    else:
        low, high = theta_range
    if not low < high:
        raise ValueError(f"theta_range must be (low, high) with low < high, got {(low, high)}")
    grid = np.linspace(low, high, n_points, dtype=np.float64)
    ax.plot(grid, [cost(t) for t in grid], color="0.3", label="J(θ)")
    if thetas is not None:
        shown = thetas[(thetas >= low) & (thetas <= high)]
        values = np.array([cost(t) for t in shown], dtype=np.float64)
        ax.plot(shown, values, "o", color="tab:red", markersize=4,
                label=label or f"descent path ({thetas.size - 1} steps)")
        for a, b, ja, jb in zip(shown[:-1], shown[1:], values[:-1], values[1:], strict=True):
            ax.annotate("", xy=(b, jb), xytext=(a, ja),
                        arrowprops={"arrowstyle": "->", "color": "tab:red", "lw": 0.8})
    ax.set_xlabel("θ")
    ax.set_ylabel("J(θ)")
    ax.legend()
    return ax
