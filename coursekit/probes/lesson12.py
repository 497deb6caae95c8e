"""Probes of lesson 12 beyond the generic one: the sampling loop is handed a model built from a
table of logits and a generator built from a seed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from coursekit.exercise.probing import attempt, guarded

#: How many names each case draws, one after the other from the same generator.
NAMES = 5
#: How many characters the names of one case may ask for before the model refuses: the cases'
#: models end a name with probability at least about 0.1 at every step, so a right loop never
#: gets near.
CALL_LIMIT = 200 * NAMES


class TableModel:
    """``next_logits(context)`` of a model whose logits are a table: for a block of b
    characters the table has shape (V,) * b + (V,), and the context's b indices pick a row."""

    def __init__(self, table: Any) -> None:
        self.table = np.asarray(table, dtype=np.float64)
        self.block_size = self.table.ndim - 1
        self.calls = 0

    def __call__(self, context: Any) -> np.ndarray:
        self.calls += 1
        if self.calls > CALL_LIMIT:
            raise RuntimeError(
                f"next_logits was called {CALL_LIMIT} times for {NAMES} names: does the loop stop "
                "when it draws the boundary token 0?")
        if not isinstance(context, np.ndarray):
            raise TypeError(
                f"next_logits takes an integer array of the last {self.block_size} indices, got "
                f"a {type(context).__name__}: pass np.array(context) (the lesson's models "
                "index it as an array, context[None])")
        ctx = context
        if ctx.shape != (self.block_size,) or (ctx.size and ctx.dtype.kind not in "iu"):
            raise TypeError(
                f"next_logits takes the context: the last {self.block_size} character indices "
                f"(integers), got {ctx.dtype} of shape {ctx.shape}")
        if ctx.size and (ctx.min() < 0 or ctx.max() >= self.table.shape[0]):
            raise IndexError(f"a context index is outside [0, {self.table.shape[0]}): {ctx}")
        return self.table[tuple(int(i) for i in ctx)].copy()


def sample_arguments(case: Mapping[str, Any]) -> tuple[Any, ...]:
    """``(next_logits, block_size, rng[, temperature])`` for a case, built afresh."""
    model = TableModel(case["logits"])
    rng = np.random.default_rng(int(case["seed"]))
    rest = (float(case["temperature"]),) if "temperature" in case else ()
    return (model, model.block_size, rng, *rest)


def names_from(sample: Any) -> Any:
    """A function of the same arguments that calls ``sample`` :data:`NAMES` times in a row
    (one model, one generator) and returns the list of names."""
    def names(*arguments: Any) -> list[Any]:
        return [sample(*arguments) for _ in range(NAMES)]
    return names


@guarded
def sample_cases(inputs: dict[str, Any], sample: Any) -> list[dict[str, Any]]:
    """:data:`NAMES` calls ``sample(next_logits, block_size, rng[, temperature])`` per case."""
    if not callable(sample):
        return [attempt(sample) for _ in inputs["cases"]]
    return [attempt(names_from(sample), *sample_arguments(case)) for case in inputs["cases"]]
