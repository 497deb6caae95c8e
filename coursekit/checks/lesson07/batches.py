"""07-batches: two runs of ``batches(X, y, batch_size, generator)`` on rows that carry their
own number, judged on the pairs, their order and how many tensors went through torch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from coursekit import pytorch as torch_ref  # named only for implemented_by
from coursekit.checks.lesson07._shared import records
from coursekit.exercise import Exercise, Got, Rule, fail, rules, view
from coursekit.exercise.judging import Data
from coursekit.exercise.mistakes import Mistake, named, same
from coursekit.probes import lesson07 as probes

#: The rows of the case where batching row by row shows: whole-tensor batching passes a few
#: tensors through torch per batch (about 40 for its 4 batches), row by row at least one per
#: row; the lesson's timing cell needs the whole-tensor kind.
ROW_BY_ROW_ROWS = 200


def reference_batches(X: torch.Tensor, y: torch.Tensor, batch_size: int,
                      generator: torch.Generator
                      ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(X_batch, y_batch) slices of the rows in the order ``torch.randperm(n, generator)``;
    the last batch holds the remainder."""
    order = torch.randperm(len(X), generator=generator).to(X.device)
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        yield X[index], y[index]


_BATCH_SIZES = ((20, 6), (12, 4), (7, 10), (33, 8), (ROW_BY_ROW_ROWS, 50))  # (rows, batch size)


def _batch_cases(rng: np.random.Generator) -> dict[str, Any]:
    """Five sizes: a remainder, an exact fit, a single short batch, a larger remainder, and
    200 rows in 4 batches, where batching row by row shows."""
    return {"cases": [{"n": n, "batch_size": size, "seed": int(rng.integers(2**31 - 1))}
                      for n, size in _BATCH_SIZES]}


def _sliced(X: torch.Tensor, y: torch.Tensor, size: int, order: Any, *, stop: int | None = None,
            y_order: Any = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    y_order = order if y_order is None else y_order
    return [(X[order[s:s + size]], y[y_order[s:s + size]])
            for s in range(0, len(X) if stop is None else stop, size)]


_ORIGINAL_ORDER = ("the rows come in their original order: shuffle them with "
                   "torch.randperm(n, generator=generator)")
_DIFFERENT_ROWS = "hold different rows: index both with the same indices"
_REPEATED = ("every row should come exactly once per epoch; some are repeated or missing: slice "
             "one permutation, don't draw a new one per batch")
_OTHER_ORDER = ("the order should be torch.randperm(n, generator=generator)'s, drawn once per "
                "call (the order pytorch.tensor_batches uses, which the lesson's results were "
                "computed with); the rows came in another order")


def _numpy_order(X: torch.Tensor, generator: torch.Generator) -> np.ndarray:
    seed = int(torch.randint(0, 1000, (1,), generator=generator))
    return np.random.default_rng(seed).permutation(len(X))


BATCH_MISTAKES = [
    Mistake(lambda X, y, size, g: f"the last, shorter batch of {len(X) % size} rows is missing: "
                                  "slice up to the end, range(0, n, batch_size)",
            lambda X, y, size, g: _sliced(X, y, size, torch.randperm(len(X), generator=g),
                                          stop=len(X) - size + 1)),
    Mistake(_ORIGINAL_ORDER, lambda X, y, size, g: _sliced(X, y, size, torch.arange(len(X)))),
    Mistake(f"X_batch and y_batch {_DIFFERENT_ROWS}",
            lambda X, y, size, g: _sliced(X, y, size, torch.randperm(len(X), generator=g),
                                          y_order=torch.arange(len(X)))),
    Mistake(_OTHER_ORDER, lambda X, y, size, g: _sliced(X, y, size, _numpy_order(X, g))),
    Mistake(_REPEATED, lambda X, y, size, g: [
        (X[order[s:s + size]], y[order[s:s + size]]) for s in range(0, len(X), size)
        for order in [torch.randperm(len(X), generator=g)]]),
    Mistake("your function returns one pair (X, y) of all the rows: iterating over it gives "
            "the tensors X and y, not a pair (X_batch, y_batch): yield one pair per batch",
            lambda X, y, size, g: (lambda order: (X[order], y[order]))(
                torch.randperm(len(X), generator=g))),
    Mistake(lambda X, y, size, g: f"y_batch 0 is of shape ({min(size, len(X))},): keep y's "
                                  "column, shape (batch, 1), as the loss compares it with the "
                                  "logits; don't squeeze y_batch or index it with [:, 0]",
            lambda X, y, size, g: [(xb, yb[:, 0]) for xb, yb in reference_batches(X, y, size, g)]),
]


def _run(run: Data, n: int, where: str) -> list[Got]:
    """The batches of one run, after failing for a run that raised, gave no iterable, or
    never stopped."""
    got = Got(run) if isinstance(run, dict) else Got({})
    if got.kind == "not_iterable":
        raise fail(f"{where}: expected an iterable of (X_batch, y_batch) pairs (yield them one "
                   f"by one), got {Got(got.get('got') or {}).describe()}")
    if view(run).kind != "batches" or not isinstance(got.get("items"), list):
        raise fail("the check received malformed data")
    if len(got.items) > n + 1:
        raise fail(f"{where}: more than {n + 1} batches came out: the loop never stops")
    return got.items


def _pairs(items: list[Got], where: str) -> list[tuple[Got, Got]]:
    """Each batch as (X_batch, y_batch), failing for what is not a pair of tensors of X's and
    y's shapes and dtype (float32)."""
    pairs = []
    for k, item in enumerate(items):
        if item.kind == "array":
            raise fail(f"{where}: iterating over your result gave {item.describe()}, not a pair "
                       "(X_batch, y_batch): yield one pair per batch")
        if item.kind != "list" or item.length != 2 or len(item.items) != 2:
            raise fail(f"{where}: batch {k} should be a pair (X_batch, y_batch), got "
                       f"{item.describe()}")
        xb, yb = (view(part.data) for part in item.items)
        if xb.kind != "array" or len(xb.shape or ()) != 2 or (xb.shape or ())[1:] != (2,):
            raise fail(f"{where}: X_batch {k} should be a tensor of shape (batch, 2), got "
                       f"{xb.describe()}")
        for name, part in (("X", xb), ("y", yb)):
            if part.kind == "array" and part.type != "Tensor":
                raise fail(f"{where}: {name}_batch {k} is {part.describe()}, not a tensor: index "
                           f"the tensor {name} itself ({name}[index]), which the model and the "
                           "loss take")
            if part.kind == "array" and part.dtype != "float32":
                raise fail(f"{where}: {name}_batch {k} is a {part.dtype} tensor, but {name} is "
                           f"float32: index {name} without converting it (no .long() or "
                           ".double()); the model's layers and BCEWithLogitsLoss take the "
                           "dtypes the lesson's tensors have")
        m = (xb.shape or (0,))[0]
        if yb.kind != "array" or yb.shape != (m, 1):
            raise fail(f"{where}: y_batch {k} (y has shape (n, 1)): expected shape ({m}, 1), got "
                       f"{yb.describe()}")
        pairs.append((xb, yb))
    return pairs


def _rows(pairs: list[tuple[Got, Got]], where: str) -> list[np.ndarray]:
    """The row numbers of each batch (X row r is [r, -r], y row r is [r + Y_OFFSET])."""
    rows = []
    for k, (xb, yb) in enumerate(pairs):
        from_x = xb.array[:, 0]
        if not np.array_equal(from_x, -xb.array[:, 1]) or \
                not np.array_equal(from_x, np.round(from_x)):
            raise fail("the check received malformed data")
        if not np.array_equal(yb.array[:, 0] - probes.Y_OFFSET, from_x):
            raise fail(f"{where}: X_batch {k} and y_batch {k} {_DIFFERENT_ROWS}")
        rows.append(from_x.astype(np.int64))
    return rows


def _each_batching(test: Callable[..., None]) -> Callable[[Data, Data], None]:
    """A rule applied to each case: ``test(case, record, n, size, where)``."""
    def rule(inputs: Data, data: Data) -> None:
        for case, record in records(inputs, data):
            n, size = int(case["n"]), int(case["batch_size"])
            test(case, record, n, size, f"{n} rows in batches of {size}")
    return rule


def _batches_of_pairs(case: Data, record: Got, n: int, size: int, where: str) -> None:
    for run in ("first", "second"):
        _run(record.get(run), n, where)
    items = _run(record.get("first"), n, where)
    got = Got({"kind": "list", "type": "list", "length": len(items),
               "items": [item.data for item in items]})
    if not same(got, list(reference_batches(*probes.batch_arguments(case)))):
        message = named(got, BATCH_MISTAKES, probes.batch_arguments(case))
        if message is not None:
            raise fail(f"{where}: {message}")
    for run in ("first", "second"):
        _rows(_pairs(_run(record.get(run), n, where), where), where)


def _the_order(case: Data, record: Got, n: int, size: int, where: str) -> None:
    first, second = (_rows(_pairs(_run(record.get(run), n, where), where), where)
                     for run in ("first", "second"))
    sizes, want_sizes = [len(b) for b in first], [size] * (n // size) + ([n % size] if n % size
                                                                           else [])
    order = np.concatenate(first) if first else np.zeros(0, dtype=np.int64)
    if sizes != want_sizes:
        if sizes == [size] * (n // size) and n % size:
            raise fail(f"{where}: the last, shorter batch of {n % size} rows is missing: slice "
                       "up to the end, range(0, n, batch_size)")
        raise fail(f"{where}: expected batch sizes {want_sizes}, got {sizes}: each batch takes "
                   "the next batch_size rows of the order, the last the remainder")
    if sorted(order.tolist()) != list(range(n)):
        raise fail(f"{where}: {_REPEATED}")
    if order.tolist() == list(range(n)):
        raise fail(f"{where}: {_ORIGINAL_ORDER}")
    if [b.tolist() for b in first] != [b.tolist() for b in second]:
        raise fail(f"{where}: two calls with identically seeded generators gave different "
                   "orders: pass generator=generator to torch.randperm, so the order comes "
                   "from the generator you were given")
    want = torch.randperm(n, generator=torch.Generator().manual_seed(int(case["seed"])))
    if not np.array_equal(order, want.numpy()):
        raise fail(f"{where}: {_OTHER_ORDER}")


def _whole_tensors(case: Data, record: Got, n: int, size: int, where: str) -> None:
    tensors = Got(record.get("first") or {}).get("tensors")
    if not isinstance(tensors, int) or isinstance(tensors, bool) or tensors < 0:
        raise fail("the check received malformed data")
    if n >= ROW_BY_ROW_ROWS and tensors >= n:
        raise fail(f"{where}: the batches are built row by row ({tensors} tensors went through "
                   f"torch for {n} rows, at least one per row): index X and y once per batch "
                   "with a tensor of row numbers, X[index] and y[index]; the lesson's timing "
                   "cell needs your batches several times faster than loading item by item")


batches = Exercise(
    "07-batches", _batch_cases, probes.batch_cases, rules(
        Rule("an iterable of (X_batch, y_batch) pairs of float32 tensors holding the same rows "
             "(a known wrong batching named first)",
             _each_batching(_batches_of_pairs)),
        Rule("the batches slice torch.randperm(n, generator=generator) once per call, the last "
             "the remainder", _each_batching(_the_order)),
        Rule("whole tensors indexed once per batch, not row by row",
             _each_batching(_whole_tensors)),
        passed=f"batches match pytorch.tensor_batches' order on {len(_BATCH_SIZES)} cases, "
               "whole tensors"),
    implemented_by=(f"{torch_ref.__name__}.tensor_batches",), names=("batches",),
    mistakes=tuple(BATCH_MISTAKES), student=lambda wrong: (wrong,),
    arguments=probes.batch_arguments)

