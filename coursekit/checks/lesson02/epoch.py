"""02-sgd-epoch: one epoch of mini-batch SGD, a behaviour (batches drawn from the rng argument)
judged by rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.checks.lesson02.references import _epoch
from coursekit.data import TRUE_BIAS, TRUE_WEIGHTS, steps_per_epoch
from coursekit.exercise import Exercise, Got, Mistake, Rule, fail, rules, view
from coursekit.exercise.judging import FLOAT32, Data, close, results
from coursekit.exercise.mistakes import TOLERANCE, described, named
from coursekit.probes import lesson02 as probes

#: (N, batch_size, lr) of the runs: several full batches, a remainder, one batch, batches of 1.
_RUNS = [(40, 10, 0.05), (37, 8, 0.1), (25, 25, 0.2), (12, 1, 0.02)]
#: The number of rows of the notebook's data set (a loop over it gives this many rows' batches).
NOTEBOOK_ROWS = 1000


def _epoch_runs(rng: np.random.Generator) -> dict[str, Any]:
    """Noisy data from w = [2, −3.4], b = 4.2, a random start and a random shuffling seed per
    run. A run with several batches also lists its seed twice and another seed, so the judge
    sees whether the batches follow the rng argument."""
    runs = []
    for n, batch_size, lr in _RUNS:
        X = rng.normal(size=(n, 2))
        y = X @ TRUE_WEIGHTS + TRUE_BIAS + 0.01 * rng.normal(size=n)
        w, b = rng.normal(size=2), float(rng.normal())
        seed = int(rng.integers(1_000_000))
        runs.append({"X": X, "y": y, "w": w, "b": b, "lr": lr, "batch_size": batch_size,
                     "seeds": [seed, seed, seed + 1] if batch_size < n else [seed]})
    return {"runs": runs}


def _where(run: Data) -> str:
    return f"with {len(run['X'])} samples, batch_size={run['batch_size']}"


def _calls(inputs: Data, data: Data) -> list[tuple[Data, list[Got]]]:
    """Each run with what each of its calls returned, read as (w, b, losses)."""
    runs = inputs["runs"]
    found = []
    for run, calls in zip(runs, results(data, len(runs)), strict=True):
        if not isinstance(calls, list) or len(calls) != len(run["seeds"]):
            raise fail("the check received malformed data")
        found.append((run, [view(call) for call in calls]))
    return found


def _triple(got: Got) -> list[Got]:
    if got.kind == "list" and got.length == 3 and len(got.items) == 3:
        return got.items
    raise fail(f"expected a triple (w, b, losses), got {got.describe()}")


def _vector(got: Got, length: int, what: str) -> np.ndarray:
    """An array of shape (length,); a list of plain numbers counts as one."""
    if got.kind == "list" and all(item.kind in ("int", "float") for item in got.items):
        got = described(np.array([item.number for item in got.items], dtype=np.float64))
    if got.kind == "array" and got.shape == (length,):
        return got.array
    raise fail(f"{what}: expected an array of shape ({length},), got {got.describe()}")


def _parameters(got: Got, d: int) -> tuple[np.ndarray, float]:
    w, b, _ = _triple(got)
    if not b.is_number:
        raise fail(f"the returned b: expected a float, got {b.describe()}")
    return _vector(w, d, "the returned w"), b.number


def _returns_a_triple(inputs: Data, data: Data) -> None:
    for run, calls in _calls(inputs, data):
        _parameters(calls[0], run["X"].shape[1])


def _one_loss_per_batch(inputs: Data, data: Data) -> None:
    for run, calls in _calls(inputs, data):
        losses, where = _triple(calls[0])[2], _where(run)
        n, batch_size = len(run["X"]), run["batch_size"]
        steps = steps_per_epoch(n, batch_size)
        count = losses.length if losses.kind == "list" else \
            losses.shape[0] if losses.kind == "array" and losses.shape else None
        if count != steps and count == steps_per_epoch(NOTEBOOK_ROWS, batch_size):
            raise fail(f"{where} an epoch has {steps} steps, got {count} losses, as many as the "
                       f"notebook's {NOTEBOOK_ROWS} rows give: loop over the X and y passed in, "
                       "not the notebook's X, y")
        if count != steps:
            raise fail(f"{where} an epoch has {steps} steps (the last batch holds the "
                       f"remainder), so losses should hold {steps} values, got "
                       f"{losses.describe() if count is None else count}")
        shapes = {losses.shape} if losses.kind == "array" else \
            {item.shape for item in losses.items}
        if len(shapes) != 1 or None in shapes:
            found: Any = "entries that are not numbers" if None in shapes else \
                "entries of different sizes"
        else:
            shape = shapes.pop()
            found = shape if losses.kind == "array" else (steps, *(shape or ()))
        if found != (steps,):
            raise fail(f"{where}: losses should be {steps} plain floats, shape ({steps},), got "
                       f"{found}: append float(loss), one number per batch")


#: Own shuffles that follow the rng in another order than rng.permutation(N), data.batches'
#: (rng.shuffle(np.arange(N)) and rng.permuted draw the same order as rng.permutation).
_OWN_SHUFFLES: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "rng.choice(N, N, replace=False)": lambda rng, n: rng.choice(n, n, replace=False),
    "rng.choice(N, N)": lambda rng, n: rng.choice(n, n),
}
_OWN_ORDER = ("your batches follow the rng but come in the order {} draws; the order must be the "
              "one data.batches(X, y, batch_size=batch_size, random_state=rng) draws, "
              "rng.permutation(N): loop over data.batches rather than shuffling the rows yourself")


def _run_epoch(run: Data, own_shuffle: str = "", **error: Any
               ) -> tuple[np.ndarray, float, list[float]]:
    """The run's epoch, right or with one of :func:`_epoch`'s errors (or rows in the order of
    one of :data:`_OWN_SHUFFLES`), as its first call made it (the run's first seed)."""
    rng = np.random.default_rng(int(run["seeds"][0]))
    if own_shuffle:
        error["order"] = _OWN_SHUFFLES[own_shuffle](rng, len(run["X"]))
    return _epoch(run["X"], run["y"], run["w"], run["b"], lr=run["lr"],
                  batch_size=run["batch_size"], rng=rng, **error)


def _mistaken(message: str, **error: Any) -> Mistake:
    return Mistake(message, lambda run, got_w: np.append(*_run_epoch(run, **error)[:2]))


#: What a wrong epoch's (w, b) reveals, tried in order on ``(run, the returned w)``.
_EPOCH_MISTAKES = [
    Mistake("w and b came back unchanged: return the updated parameters",
            lambda run, got_w: np.append(run["w"], run["b"])),
    _mistaken("w and b are right but the losses are not: record each batch's loss before its "
              "update, on that batch"),
    _mistaken("these are the batches in the data's own order; shuffle them with "
              "data.batches(..., random_state=rng)", shuffle=False),
    *(_mistaken(_OWN_ORDER.format(shuffle), own_shuffle=shuffle) for shuffle in _OWN_SHUFFLES),
    _mistaken("the parameters moved up the gradient; step against it: w − lr·dw, b − lr·db",
              direction=1.0),
    _mistaken("each step used the gradient of the full X, y; compute it on the batch: "
              "mse_gradient(X_batch, y_batch, w, b)", full_gradient=True),
    Mistake("b never changed: update it with b − lr·db too",
            lambda run, got_w: np.append(got_w, run["b"])),
]


def _rng_mistake(calls: list[Got], got_w: np.ndarray, d: int) -> str | None:
    """Whether the batches ignore the rng argument, from the same seed twice and another seed:
    a function that uses the rng it is given repeats itself exactly only in the first case."""
    if len(calls) != 3:
        return None
    again, other = (_returned_w(call, d) for call in calls[1:])
    if again is not None and not close(again, got_w, **TOLERANCE):
        what = "different batches"
    elif other is not None and close(other, got_w, **TOLERANCE):
        what = "the same batches as another rng"
    else:
        return None
    return (f"your batches do not come from the rng argument (the same rng gave {what}): pass "
            "random_state=rng to data.batches")


def _returned_w(got: Got, d: int) -> np.ndarray | None:
    try:
        return _parameters(got, d)[0]
    except Exception:  # a Failure or malformed data: no evidence either way
        return None


def _the_reference_epoch(inputs: Data, data: Data) -> None:
    for run, calls in _calls(inputs, data):
        got_w, got_b = _parameters(calls[0], run["X"].shape[1])
        losses = _triple(calls[0])[2]
        got_losses = losses.array if losses.kind == "array" else \
            np.array([item.array for item in losses.items], dtype=np.float64)
        want_w, want_b, want_losses = _run_epoch(run)
        got = np.append(got_w, got_b)
        # float32 arithmetic is accepted: the lesson compares the learned parameters with the
        # true ones to 0.01, far above float32's rounding
        if close(got, np.append(want_w, want_b), **FLOAT32) \
                and close(got_losses, want_losses, **FLOAT32):
            continue
        where = _where(run)
        message = named(described(got), _EPOCH_MISTAKES, (run, got_w)) \
            or _rng_mistake(calls, got_w, run["X"].shape[1])
        raise fail(f"{where}: {message}" if message else (
            f"{where}, lr={run['lr']:g}: expected w={np.round(want_w, 4)}, b={want_b:.4f}, got "
            f"w={np.round(got_w, 4)}, b={got_b:.4f}"))


sgd_epoch = Exercise(
    "02-sgd-epoch", _epoch_runs, probes.epoch_runs, rules(
        Rule("every call returns a triple (w, b, losses), w of shape (d,)", _returns_a_triple),
        Rule("losses holds one plain float per batch of the X, y passed in",
             _one_loss_per_batch),
        Rule("w, b and the losses are the reference epoch's, to float32 precision, the "
             "batches drawn by data.batches(..., random_state=rng)", _the_reference_epoch),
        passed=f"one epoch of mini-batch SGD matches on {len(_RUNS)} runs"),
    implemented_by=("coursekit.scratch.Sequential.fit", "coursekit.scratch.SGD"),
    names=("sgd_epoch",))
