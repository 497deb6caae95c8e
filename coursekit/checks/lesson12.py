"""Checks for lesson 12, a character-level language model: the smoothed bigram table, its
negative log-likelihood, the embedding's backward pass and the sampling loop.

Characters are integers, 0 the boundary token ``.`` that starts and ends every name. A bigram
model is a table P of shape (V, V) whose row i is the distribution of the character after i;
with add-α smoothing ``P[i, j] = (N[i, j] + α) / (Σ_k N[i, k] + V α)`` from the counts N. An
embedding's forward pass is the gather ``W[ix]``, its backward the scatter-add of the output
gradients into the rows looked up (``np.add.at``; a buffered ``dW[ix] += g`` drops repeats).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from coursekit.checks.score import scorer
from coursekit.exercise import Got, Mistake, function, registry
from coursekit.names import contexts, load_names
from coursekit.probes import lesson12 as probes

#: The lesson's split and smoothing: the check cells' first cases are the lesson's own numbers.
SPLIT_SEED = 0
ALPHA = 0.1


def reference_bigram_table(first: np.ndarray, second: np.ndarray, size: int,
                           alpha: float) -> np.ndarray:
    """first, second int (n,) pairs i → j; P (size, size) float64, rows summing to 1."""
    counts = np.zeros((size, size), dtype=np.float64)
    np.add.at(counts, (first, second), 1.0)
    counts += alpha
    return counts / counts.sum(axis=1, keepdims=True)


def reference_mean_nll(P: np.ndarray, first: np.ndarray, second: np.ndarray) -> float:
    """The mean over the n pairs of −log P[first, second], in nats."""
    return float(-np.mean(np.log(P[first, second])))


def reference_embedding_backward(ix: np.ndarray, dout: np.ndarray,
                                 num_embeddings: int) -> np.ndarray:
    """ix int of shape S, dout of shape S + (D,) → dW (num_embeddings, D), float64."""
    dW = np.zeros((num_embeddings, dout.shape[-1]), dtype=np.float64)
    np.add.at(dW, ix.reshape(-1), dout.reshape(-1, dout.shape[-1]))
    return dW


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def reference_sample(next_logits: Any, block_size: int, rng: np.random.Generator,
                     temperature: float = 1.0) -> list[int]:
    """One name's character indices (without boundaries): from the context of ``block_size``
    zeros, draw ``rng.choice(V, p=softmax(logits / temperature))`` until it draws 0."""
    context, name = [0] * block_size, list[int]()
    while True:
        logits = np.asarray(next_logits(np.array(context, dtype=np.int64)), dtype=np.float64)
        ix = int(rng.choice(len(logits), p=_softmax(logits / temperature)))
        if ix == 0:
            return name
        name.append(ix)
        context = context[1:] + [ix]


# ---- 12-bigram-table and 12-nll -----------------------------------------------------------------

def _lesson_pairs() -> tuple[np.ndarray, np.ndarray, int]:
    split = load_names(random_state=SPLIT_SEED)
    X, Y = contexts(split.train, split.vocab, 1)
    return X[:, 0], Y, split.vocab.size


def _random_pairs(rng: np.random.Generator, size: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n pairs over ``size`` characters, many repeated; character size - 1 never comes first,
    so its row has no counts at all."""
    return rng.integers(0, size - 1, n), rng.integers(0, size, n)


def _table_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    first, second, size = _lesson_pairs()
    cases: list[dict[str, Any]] = [{"first": first, "second": second, "size": size,
                                    "alpha": ALPHA}]
    for size, n, alpha in ((5, 40, 1.0), (4, 9, 0.5), (7, 60, 0.01)):
        a, b = _random_pairs(rng, size, n)
        cases.append({"first": a, "second": b, "size": size, "alpha": alpha})
    cases.append({"first": np.zeros(0, dtype=np.int64), "second": np.zeros(0, dtype=np.int64),
                  "size": 3, "alpha": 2.0})
    return cases


def _buffered_counts(first: np.ndarray, second: np.ndarray, size: int) -> np.ndarray:
    counts = np.zeros((size, size))
    counts[first, second] += 1  # one write per distinct pair: the repeats are lost
    return counts


def _normalised(counts: np.ndarray, axis: int | None = 1) -> np.ndarray:
    return counts / counts.sum(axis=axis, keepdims=axis is not None)


def _table_where(first: np.ndarray, second: np.ndarray, size: int, alpha: float) -> str:
    return f"{len(first)} pairs over {size} characters, alpha={alpha:g}"


bigram_table = function(
    "12-bigram-table", names=("bigram_table",), args=("first", "second", "size", "alpha"),
    keep=("first", "second"), cases=_table_cases, reference=reference_bigram_table,
    float64=True, where=_table_where,
    passed="P is the add-α smoothed bigram table, rows summing to 1, on {n} cases",
    mistakes=[
        Mistake("a pair that occurs several times was counted once: `N[first, second] += 1` "
                "writes each repeated index once (buffered); count with np.add.at(N, (first, "
                "second), 1)",
                lambda a, b, s, al: _normalised(_buffered_counts(a, b, s) + al)),
        Mistake("the rows are not smoothed: add alpha to every count before normalising",
                lambda a, b, s, al: _normalised(_counts(a, b, s))),
        Mistake("each column sums to 1: divide each row by its own sum, N.sum(axis=1, "
                "keepdims=True), the distribution of the character after i (without keepdims, "
                "N / N.sum(axis=1) divides column j by row j's sum)",
                lambda a, b, s, al: _normalised(_counts(a, b, s) + al, axis=0)),
        Mistake("the whole table sums to 1: normalise each row (axis=1, keepdims=True)",
                lambda a, b, s, al: _normalised(_counts(a, b, s) + al, axis=None)),
        Mistake("the table is transposed: row i holds the counts of pairs i → j, "
                "N[first, second]",
                lambda a, b, s, al: _normalised(_counts(b, a, s) + al)),
        Mistake("alpha was added after normalising; add it to the counts, then normalise",
                lambda a, b, s, al: np.nan_to_num(_normalised(_counts(a, b, s))) + al),
        Mistake("these are the smoothed counts; divide each row by its sum",
                lambda a, b, s, al: _counts(a, b, s) + al),
        Mistake("alpha replaced only the zero counts; add it to every count",
                lambda a, b, s, al: _normalised(np.where(_counts(a, b, s) == 0, al,
                                                         _counts(a, b, s)))),
        Mistake("each row was divided by its count plus alpha, but alpha went into each of its "
                "`size` entries: divide the smoothed row by its own sum (count + size·alpha)",
                lambda a, b, s, al: (_counts(a, b, s) + al)
                / (_counts(a, b, s).sum(axis=1, keepdims=True) + al)),
        Mistake("np.add.at(N, [first, second], 1) counts whole rows: a list of index arrays is "
                "one index into the first axis; pass the tuple (first, second)",
                lambda a, b, s, al: _normalised(_row_counts(a, b, s) + al)),
    ])


def _row_counts(first: np.ndarray, second: np.ndarray, size: int) -> np.ndarray:
    counts = np.zeros((size, size))
    np.add.at(counts, np.array([first, second]), 1)  # rows first and second, all columns
    return counts


def _counts(first: np.ndarray, second: np.ndarray, size: int) -> np.ndarray:
    counts = np.zeros((size, size))
    np.add.at(counts, (first, second), 1.0)
    return counts


def _nll_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    first, second, size = _lesson_pairs()
    cases = [{"P": reference_bigram_table(first, second, size, ALPHA), "first": first,
              "second": second}]
    for size, n in ((5, 30), (3, 4), (8, 100)):
        a, b = rng.integers(0, size, n), rng.integers(0, size, n)
        cases.append({"P": rng.dirichlet(np.ones(size), size=size), "first": a, "second": b})
    # an unsmoothed table: zeros where no pair of the case falls (the NLL stays finite)
    a, b = rng.integers(0, 5, 20), rng.integers(0, 4, 20)
    counts = np.zeros((6, 6))
    np.add.at(counts, (a, b), 1.0)
    counts[5, 5] = 1.0  # a row that never occurs first still sums to 1
    cases.append({"P": counts / counts.sum(axis=1, keepdims=True), "first": a, "second": b})
    return cases


mean_nll = function(
    "12-nll", names=("mean_nll",), args=("P", "first", "second"), keep=("P", "first", "second"),
    cases=_nll_cases, reference=reference_mean_nll, float64=True,
    where=lambda P, a, b: f"{len(a)} pairs over {P.shape[0]} characters",
    passed="the mean negative log-likelihood matches on {n} cases",
    mistakes=[
        Mistake("that is the sum over the pairs; the mean divides by their number",
                lambda P, a, b: -np.sum(np.log(P[a, b]))),
        Mistake("the sign: a likelihood below 1 has a negative log, so the NLL is −mean(log p)",
                lambda P, a, b: np.mean(np.log(P[a, b]))),
        Mistake("that is log base 10; the lesson measures nats (np.log)",
                lambda P, a, b: -np.mean(np.log10(P[a, b]))),
        Mistake("that is log base 2 (bits); the lesson measures nats (np.log)",
                lambda P, a, b: -np.mean(np.log2(P[a, b]))),
        Mistake("the pair i → j has probability P[i, j] (row = first character), not P[j, i]",
                lambda P, a, b: -np.mean(np.log(P[b, a]))),
        Mistake("that is −log of the mean probability; average the logs instead",
                lambda P, a, b: -np.log(np.mean(P[a, b]))),
        Mistake("one value per pair: average them into one number",
                lambda P, a, b: -np.log(P[a, b])),
    ])


# ---- 12-embedding-backward ----------------------------------------------------------------------

def _embedding_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Repeated indices everywhere; a row never looked up; indices of one and of two axes (a
    batch of contexts, one of which repeats a character, as the start context "..." does);
    every index the same; float32 gradients (dW stays float64)."""
    cases = []
    for shape, v, d in (((6,), 4, 3), ((5, 3), 6, 2), ((8,), 3, 4), ((4, 2), 7, 5)):
        ix = rng.integers(0, v - 1, shape)  # the last row is never looked up
        if ix.ndim == 2:
            ix[0, -1] = ix[0, 0]
        cases.append({"ix": ix, "dout": rng.normal(size=(*shape, d)), "num_embeddings": v})
    cases.append({"ix": np.full(5, 2), "dout": rng.normal(size=(5, 3)), "num_embeddings": 4})
    # float32 gradients: dW is float64 all the same, as the prompt asks
    cases.append({"ix": rng.integers(0, 4, 6), "dout": rng.normal(size=(6, 2)).astype(np.float32),
                  "num_embeddings": 5})
    return cases


def _buffered(ix: np.ndarray, dout: np.ndarray, v: int) -> np.ndarray:
    dW = np.zeros((v, dout.shape[-1]))
    dW[ix] += dout
    return dW


def _buffered_per_row(ix: np.ndarray, dout: np.ndarray, v: int) -> np.ndarray:
    dW = np.zeros((v, dout.shape[-1]))
    for k in range(len(ix)):
        dW[ix[k]] += dout[k]  # right for one index a row; a context's repeats are buffered
    return dW


def _mean_over_rows(ix: np.ndarray, dout: np.ndarray, v: int) -> np.ndarray:
    return reference_embedding_backward(ix, dout, v) / ix.size


embedding_backward = function(
    "12-embedding-backward", names=("embedding_backward",), args=("ix", "dout", "num_embeddings"),
    keep=("ix", "dout"), cases=_embedding_cases, reference=reference_embedding_backward,
    float64=True, implemented_by=("coursekit.scratch.Embedding.backward",),
    where=lambda ix, dout, v: f"ix of shape {ix.shape}, dout {dout.shape}, {v} rows",
    passed="dW adds every position's gradient into its row, repeats included, on {n} cases",
    mistakes=[
        Mistake("an index that occurs several times got one gradient, not their sum: "
                "`dW[ix] += dout` (or `dW[ix] = dout`) writes each repeated row once; use "
                "np.add.at(dW, ix, dout)", _buffered),
        Mistake("a context that repeats an index got its gradient once: `dW[ix[k]] += dout[k]` "
                "is still buffered within row k of a batch of contexts; use np.add.at(dW, ix, "
                "dout), whatever the shape of ix", _buffered_per_row),
        Mistake("dW was divided by the number of positions: the mean over the batch is already "
                "in dout (the loss's backward), so only add", _mean_over_rows),
        Mistake("that is dout itself; dW has one row per embedding (num_embeddings, D), each "
                "the sum of the gradients of the positions that looked it up",
                lambda ix, dout, v: dout),
        Mistake("that is the gradients gathered back, dout's rows at ix; the backward of a "
                "gather is a scatter: add each position's gradient into row ix of dW",
                lambda ix, dout, v: dout.reshape(-1, dout.shape[-1])[ix.reshape(-1) % ix.size]),
    ])


# ---- 12-sample ----------------------------------------------------------------------------------

def _tables(rng: np.random.Generator, size: int, block_size: int) -> np.ndarray:
    """Random logits for ``size`` characters, the boundary's raised so every step ends the name
    with probability at least about 0.1 at the cases' temperatures."""
    table = rng.normal(size=(size,) * block_size + (size,))
    table[..., 0] = np.max(table, axis=-1) + 0.5
    return table


def _sample_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for size, block, temperature in ((6, 1, 1.0), (5, 2, 0.5), (7, 1, 2.0), (5, 2, 1.0),
                                     (4, 3, 1.5), (6, 1, None)):
        case = {"logits": _tables(rng, size, block), "seed": int(rng.integers(2**31))}
        cases.append(case if temperature is None else {**case, "temperature": temperature})
    return cases


def _fresh(fn: Any) -> Any:
    """What the probe records of ``fn``: its names drawn one after the other, on copies of the
    case's model and generator (so those are never advanced)."""
    def run(model: Any, block_size: int, rng: np.random.Generator, *temperature: float) -> Any:
        return probes.names_from(fn)(copy.deepcopy(model), block_size, copy.deepcopy(rng),
                                     *temperature)
    run.one_name = fn  # type: ignore[attr-defined]
    return run


def _wrong_sample(*, scale: str = "divide", keep_end: bool = False, slide: bool = True,
                  slide_front: bool = False) -> Any:
    def sample(model: Any, block_size: int, rng: np.random.Generator,
               temperature: float = 1.0) -> list[int]:
        context, name = [0] * block_size, list[int]()
        for _ in range(probes.CALL_LIMIT):
            logits = np.asarray(model(np.array(context)), dtype=np.float64)
            z = {"divide": logits / temperature, "multiply": logits * temperature,
                 "ignore": logits}[scale]
            ix = int(rng.choice(len(z), p=_softmax(z)))
            if ix == 0:
                return [*name, 0] if keep_end else name
            name.append(ix)
            if slide_front:
                context = [ix] + context[:-1]
            elif slide:
                context = context[1:] + [ix]
        raise RuntimeError("no end")  # not this case's candidate
    return sample


def _greedy(model: Any, block_size: int, rng: np.random.Generator,
            temperature: float = 1.0) -> list[int]:
    context, name = [0] * block_size, list[int]()
    for _ in range(probes.CALL_LIMIT):  # the largest logit may never be the boundary's
        ix = int(np.argmax(model(np.array(context))))
        if ix == 0:
            return name
        name.append(ix)
        context = context[1:] + [ix]
    raise RuntimeError("no end")  # not this case's candidate


def _sample_where(model: probes.TableModel, block_size: int, rng: np.random.Generator,
                  *temperature: float) -> str:
    heat = f"temperature {temperature[0]:g}" if temperature else "the default temperature"
    return f"a {model.table.shape[-1]}-character model with a block of {block_size}, {heat}"


def _other_draws(got: Got, model: Any, block_size: int, rng: np.random.Generator,
                 *temperature: float) -> str | None:
    """Lists of valid indices that are not the reference's: drawn another way."""
    size = model.table.shape[-1]
    names = got.items if got.kind == "list" else []
    if not names or not all(name.kind == "list" for name in names):
        return None
    indices = [item for name in names for item in name.items]
    if not all(item.kind == "int" and 0 < int(item.number) < size for item in indices):
        return None
    return ("possible names, but not the ones the model draws; check that each character is "
            "exactly one call rng.choice(V, p=probs) on the rng passed in (not np.random, not a "
            "new generator) with probs = softmax(logits / temperature), that the context holds "
            "the last block_size indices oldest first, and that only a drawn 0 ends a name (no "
            "length limit)")


sample = function(
    "12-sample", names=("sample",), args=("next_logits", "block_size", "rng", "temperature"),
    cases=_sample_cases, probe=probes.sample_cases, arguments=probes.sample_arguments,
    reference=_fresh(reference_sample), where=_sample_where, explain=_other_draws,
    student=lambda wrong: (getattr(wrong, "one_name", wrong),),
    passed="the names drawn match rng.choice from softmax(logits / T) on {n} models, "
           f"{probes.NAMES} names each",
    mistakes=[
        Mistake("the logits were multiplied by the temperature; divide them by it (T > 1 "
                "flattens the distribution, T < 1 sharpens it)",
                _fresh(_wrong_sample(scale="multiply"))),
        Mistake("the temperature was not used: draw from softmax(logits / temperature)",
                _fresh(_wrong_sample(scale="ignore"))),
        Mistake("the name ends with the boundary token 0; stop when you draw it, without "
                "adding it", _fresh(_wrong_sample(keep_end=True))),
        Mistake("the context never moved: after each draw drop its first index and append the "
                "new one, so it always holds the last block_size characters",
                _fresh(_wrong_sample(slide=False))),
        Mistake("that is the most likely character every time (argmax); sampling draws from "
                "the distribution with rng.choice", _fresh(_greedy)),
        Mistake("the context slides the wrong way: drop its oldest index (the first) and append "
                "the new one at the end, context[1:] + [ix]",
                _fresh(_wrong_sample(slide_front=True))),
    ])


EXERCISES = registry(bigram_table, mean_nll, sample, embedding_backward)

score = scorer(EXERCISES)
