"""06-loader: shuffled, paired, reproducible mini-batches, judged on the loader's passes.

Every rule is a condition on what the passes served (the batch sizes, the rows' order, the
pairing, the order under the same and another seed), which any loader with that mistake meets
whatever else it does; the wrong loaders stay in the tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit import pytorch as torch_ref
from coursekit.checks.lesson06.common import TOLERANCE, _regression
from coursekit.exercise import Exercise, Got, Rule, fail, rules, view
from coursekit.exercise.judging import Data, close
from coursekit.probes import lesson06 as probes


def _loader_case(rng: np.random.Generator) -> dict[str, Any]:
    """23 rows in batches of 5 (the last one holds 3), and the generator's seed."""
    return {**_regression(rng, 23), "batch_size": 5, "seed": int(rng.integers(2**31))}


def _listed(values: list[int], shown: int = 8) -> str:
    """``[5, 5, 5, …] (200 values)`` for a long list, the whole list for a short one."""
    if len(values) <= shown:
        return str(values)
    return f"[{', '.join(str(v) for v in values[:shown])}, …] ({len(values)} batches)"


#: Which pass over which loader :func:`_order` reads, for its messages.
_PASSES = {"first": "the loader", "second": "the loader's second pass",
           "again": "a second loader made with the same seed",
           "other": "a loader made with another seed"}


def _made(data: Data) -> Got:
    made = view(data.get("made") if isinstance(data, dict) else None)
    if made.kind != "made":
        raise fail("the check received malformed data")
    return made


def _batches(inputs: Data, data: Data, which: str) -> list[Got]:
    """The batches of one pass, after checking there are some and that they are batches."""
    made = Got(_made(data).get("got"))
    if not isinstance(data, dict) or not isinstance(data.get(which), dict):
        raise fail("the check received malformed data")
    got = data[which]
    if got.get("kind") == "raised" and got.get("type") == "TypeError":
        raise fail(f"expected something to loop over (a DataLoader), got {made.describe()}")
    batches = [Got(batch) for batch in view(got).get("batches") or []]
    if not batches and which == "second":
        raise fail("the first pass over the loader gave batches, but a second pass (the next "
                   "epoch) gave none: a one-shot iterator (iter(DataLoader(...)), or a function "
                   "that yields batches) is spent after one epoch; return the DataLoader "
                   "itself, which can be iterated once per epoch")
    if not batches:
        raise fail(f"one pass over {_PASSES[which]} gave no batches")
    if made.kind == "other" and made.type.endswith("Dataset") and which == "first":
        raise fail(f"expected a DataLoader, got a {made.type}: a dataset serves one row at a "
                   "time; return a DataLoader over the TensorDataset (with batch_size and the "
                   "generator)")
    for batch in batches:
        if batch.kind != "pair":
            raise fail("each batch should be a pair (X_batch, y_batch); got "
                       f"{batch.describe()}: did you build TensorDataset(X, y) with both tensors?")
        x = view(batch.get("x"))
        if x.kind != "array" or not x.shape:
            raise fail(f"X_batch should be a tensor of rows, got {x.describe()}")
    return batches


def _sizes(inputs: Data, data: Data) -> None:
    n, batch_size = len(inputs["X"]), int(inputs["batch_size"])
    sizes = [int((view(b.get("x")).shape or (0,))[0]) for b in _batches(inputs, data, "first")]
    expected = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    if sizes == expected[:-1] and n % batch_size:
        raise fail(f"{n} rows in batches of {batch_size} should give batch sizes {expected}, "
                   f"got {sizes}: the last, smaller batch is missing; leave drop_last=False "
                   "so every row is used in every epoch")
    if sum(sizes) != n:
        held = f"{sum(sizes)} rows" + (" or more" if len(sizes) >= probes.MAX_BATCHES else "")
        raise fail(f"the X passed in has {n} rows, but one pass over the loader gave {held} "
                   f"(batch sizes {_listed(sizes)}): build the TensorDataset from the X and y "
                   "passed in, not the notebook's global X and y")
    if sizes != expected:
        raise fail(f"{n} rows in batches of {batch_size} should give batch sizes {expected}, "
                   f"got {_listed(sizes)}: pass batch_size to the DataLoader")


def _order(inputs: Data, data: Data, which: str = "first") -> list[int]:
    """The order in which one pass visited the rows of X, its batches paired rows of X and y."""
    X, y = np.asarray(inputs["X"], np.float64), np.asarray(inputs["y"], np.float64)
    where = {tuple(row): i for i, row in enumerate(X)}
    order: list[int] = []
    for batch in _batches(inputs, data, which):
        x, y_batch = view(batch.get("x")), view(batch.get("y"))
        size = x.shape[0] if x.shape else 0
        if y_batch.kind != "array" or y_batch.shape != (size, 1):
            shown = y_batch.shape if y_batch.kind == "array" else y_batch.describe()
            raise fail(f"y batches should have shape (batch, 1) like the targets, got {shown}")
        if x.shape != (size, 2):
            raise fail(f"X_batch: expected shape {(size, 2)}, got {x.shape}")
        rows = [where.get(tuple(row), -1) for row in x.array]
        if -1 in rows:
            raise fail("a batch holds rows that are not rows of X: pass X itself to "
                       "TensorDataset")
        if not close(y_batch.array, y[rows], **TOLERANCE):
            raise fail("a y batch does not belong to its X batch: rows of X and y must stay "
                       "paired (one TensorDataset of both, not two loaders)")
        order += rows
    return order


def _shuffled(inputs: Data, data: Data) -> None:
    first, n = _order(inputs, data), len(inputs["X"])
    if sorted(first) != list(range(n)):
        raise fail("one epoch should visit every row exactly once")
    if first == list(range(n)):
        raise fail("the rows come in their original order: pass shuffle=True so every epoch "
                   "sees the batches in a fresh random order")
    if _order(inputs, data, "second") == first:
        raise fail("two epochs visited the rows in the same order: shuffle anew each epoch "
                   "(shuffle=True, not a fixed permutation)")


def _reproducible(inputs: Data, data: Data) -> None:
    first = _order(inputs, data)
    if _order(inputs, data, "again") != first:
        raise fail("the same seed gave a different order: pass the generator to the "
                   "DataLoader (generator=generator) so runs are reproducible")
    if _order(inputs, data, "other") == first:
        raise fail("generators seeded differently gave the same order: the order must come "
                   "from the generator passed in (DataLoader(..., generator=generator)), not "
                   "from a generator or seed of your own")


def _length(inputs: Data, data: Data) -> None:
    n_batches = -(-len(inputs["X"]) // int(inputs["batch_size"]))
    length = Got(data["length"])
    if length.kind != "int" or int(length.number) != n_batches:
        shown = (f"{length.get('type')} from len()" if length.kind == "raised" else
                 length.describe())
        raise fail(f"len(loader) should be the number of batches per epoch, {n_batches}; got "
                   f"{shown}: a DataLoader has it, and later cells use it")


make_loader = Exercise(
    "06-loader", _loader_case, probes.loader_passes, rules(
        Rule("the loader is made without raising and without changing X or y",
             lambda inputs, data: None if _made(data) else None),
        Rule("one pass serves every row in batches of batch_size, the last one smaller",
             _sizes),
        Rule("the rows of X and y stay paired, in a new random order every epoch", _shuffled),
        Rule("the order comes from the generator passed in", _reproducible),
        Rule("len(loader) is the number of batches per epoch", _length),
        passed="23 rows in shuffled, paired, reproducible batches of 5"),
    implemented_by=(f"{torch_ref.__name__}.tensor_batches",), names=("make_loader",))
