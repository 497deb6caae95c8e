"""Lesson 12 checks: the references pass, valid versions written differently pass (and run the
lesson's later cells), and what no declared mistake covers is named: arguments changed in
place, float32 tables, a generator of one's own, another way of drawing, a loop that never
stops, a stub. Declared mistakes are tested in test_mistakes.py."""

import numpy as np
import pytest

from coursekit.checks import lesson12 as check
from coursekit.exercise import ExerciseFailed
from tests.checks.wire import assert_judged_alike_on_fresh_inputs

REFERENCES = {"12-bigram-table": check.reference_bigram_table,
              "12-nll": check.reference_mean_nll,
              "12-embedding-backward": check.reference_embedding_backward,
              "12-sample": check.reference_sample}


# ---- valid versions written differently ----

def _table_bincount(first, second, size, alpha):
    counts = np.bincount(first * size + second, minlength=size * size).reshape(size, size)
    smoothed = counts + alpha
    return smoothed / smoothed.sum(axis=1)[:, None]


def _table_loop(first, second, size, alpha):
    counts = np.full((size, size), float(alpha))
    for a, b in zip(first, second, strict=True):
        counts[a, b] += 1
    for row in counts:
        row /= row.sum()
    return counts


def _table_histogram(first, second, size, alpha):
    counts, _, _ = np.histogram2d(first, second, bins=size, range=[[0, size], [0, size]])
    return (counts + alpha) / (counts.sum(axis=1, keepdims=True) + size * alpha)


def _nll_loop(P, first, second):
    total = 0.0
    for a, b in zip(first, second, strict=True):
        total -= np.log(P[a, b])
    return total / len(first)


def _nll_log_of_product_in_pieces(P, first, second):
    return float(-np.log(P)[first, second].sum() / first.size)


def _embedding_one_hot(ix, dout, num_embeddings):
    flat = ix.reshape(-1)
    one_hot = (flat[:, None] == np.arange(num_embeddings)).astype(np.float64)
    return one_hot.T @ dout.reshape(flat.size, -1)


def _embedding_loop(ix, dout, num_embeddings):
    dW = np.zeros((num_embeddings, dout.shape[-1]))
    for position, row in zip(ix.reshape(-1), dout.reshape(-1, dout.shape[-1]), strict=True):
        dW[position] += row
    return dW


def _sample_searchsorted(next_logits, block_size, rng, temperature=1.0):
    context, out = np.zeros(block_size, dtype=int), []
    while True:
        z = np.asarray(next_logits(context), dtype=float) / temperature
        p = np.exp(z - np.max(z))
        p /= p.sum()
        # what rng.choice(len(p), p=p) does inside: one uniform draw against the running total
        ix = int(np.searchsorted(np.cumsum(p) / np.cumsum(p)[-1], rng.random(), side="right"))
        if ix == 0:
            break
        out.append(ix)
        context = np.append(context[1:], ix)
    return out


def _sample_for_loop(next_logits, block_size, rng, temperature=1.0):
    context = [0] * block_size
    name = []
    for _ in range(10_000):
        logits = next_logits(np.array(context))
        probs = np.exp(logits / temperature)
        probs = probs / probs.sum()
        nxt = rng.choice(len(probs), p=probs)
        if nxt == 0:
            break
        name += [int(nxt)]
        context = (context + [int(nxt)])[-block_size:]
    return name


#: Every exercise of lesson 12 -> valid versions a student could write in its solution cell.
VALID_VERSIONS: dict[str, list[object]] = {
    "12-bigram-table": [_table_bincount, _table_loop, _table_histogram],
    "12-nll": [_nll_loop, _nll_log_of_product_in_pieces],
    "12-embedding-backward": [_embedding_one_hot, _embedding_loop],
    "12-sample": [_sample_searchsorted, _sample_for_loop],
}


# ---- what no declared mistake covers ----

def _table_sorts_first(first, second, size, alpha):
    first.sort()  # the lesson counts again with the same arrays
    return check.reference_bigram_table(first, second, size, alpha)


def _table_float32(first, second, size, alpha):
    return check.reference_bigram_table(first, second, size, alpha).astype(np.float32)


def _embedding_scales_dout(ix, dout, num_embeddings):
    dout *= 1.0 / ix.size
    return check.reference_embedding_backward(ix, dout, num_embeddings) * ix.size


def _sample_own_generator(next_logits, block_size, rng, temperature=1.0):
    return check.reference_sample(next_logits, block_size, np.random.default_rng(0), temperature)


def _sample_multinomial(next_logits, block_size, rng, temperature=1.0):
    context, name = [0] * block_size, []
    while True:
        z = next_logits(np.array(context)) / temperature
        p = np.exp(z - z.max())
        ix = int(np.argmax(rng.multinomial(1, p / p.sum())))
        if ix == 0:
            return name
        name.append(ix)
        context = context[1:] + [ix]


def _sample_never_stops(next_logits, block_size, rng, temperature=1.0):
    context, name = [0] * block_size, []
    while True:  # stops on a 0 drawn... but only checks the previous character
        z = next_logits(np.array(context)) / temperature
        p = np.exp(z - z.max())
        ix = int(rng.choice(len(p), p=p / p.sum()))
        if name and name[-1] == 0 and len(name) > 10**6:
            return name
        name.append(ix)
        context = context[1:] + [ix]


def _sample_growing_context(next_logits, block_size, rng, temperature=1.0):
    context, name = [0] * block_size, []
    while True:
        z = next_logits(np.array(context)) / temperature
        p = np.exp(z - z.max())
        ix = int(rng.choice(len(p), p=p / p.sum()))
        if ix == 0:
            return name
        name.append(ix)
        context.append(ix)


def _table_without_keepdims(first, second, size, alpha):
    counts = np.zeros((size, size))
    np.add.at(counts, (first, second), 1)
    return (counts + alpha) / (counts + alpha).sum(axis=1)


def _nll_mends_zeros_in_place(P, first, second):
    P[P == 0] = 1e-10  # the caller's table changes
    return float(-np.mean(np.log(P[first, second])))


def _embedding_in_the_dtype_of_dout(ix, dout, num_embeddings):
    dW = np.zeros((num_embeddings, dout.shape[-1]), dtype=dout.dtype)
    np.add.at(dW, ix.reshape(-1), dout.reshape(-1, dout.shape[-1]))
    return dW


def _sample_list_context(next_logits, block_size, rng, temperature=1.0):
    context, name = [0] * block_size, []
    while True:
        z = np.asarray(next_logits(context)) / temperature  # a list, not an array
        p = np.exp(z - z.max())
        ix = int(rng.choice(len(p), p=p / p.sum()))
        if ix == 0:
            return name
        name.append(ix)
        context = context[1:] + [ix]


def _sample_capped(next_logits, block_size, rng, temperature=1.0):
    context, name = [0] * block_size, []
    for _ in range(3):  # a length limit the prompt does not ask for
        z = next_logits(np.array(context)) / temperature
        p = np.exp(z - z.max())
        ix = int(rng.choice(len(p), p=p / p.sum()))
        if ix == 0:
            break
        name.append(ix)
        context = context[1:] + [ix]
    return name


def _stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize(("exercise_id", "wrong", "message"), [
    ("12-bigram-table", _table_sorts_first, "changed `first` in place"),
    ("12-bigram-table", _table_float32, "float64"),
    ("12-embedding-backward", _embedding_scales_dout, "changed `dout` in place"),
    ("12-sample", _sample_own_generator, "possible names, but not the ones the model draws"),
    ("12-sample", _sample_multinomial, "possible names, but not the ones the model draws"),
    ("12-sample", _sample_never_stops, "does the loop stop when it draws the boundary token 0"),
    ("12-sample", _sample_growing_context, "the last 1 character indices"),
    ("12-nll", _stub, "NotImplementedError"),
    ("12-bigram-table", _table_without_keepdims, r"without keepdims, N / N.sum\(axis=1\)"),
    ("12-nll", _nll_mends_zeros_in_place, "changed `P` in place"),
    ("12-embedding-backward", _embedding_in_the_dtype_of_dout, "float64"),
    ("12-sample", _sample_list_context, "got a list: pass np.array"),
    ("12-sample", _sample_capped, "only a drawn 0 ends a name"),
])
def test_what_no_mistake_covers_is_named(exercise_id, wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.EXERCISES[exercise_id](wrong)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fresh_inputs_tell_the_buffered_count_from_the_right_one(seed):
    def buffered(first, second, size, alpha):
        counts = np.zeros((size, size))
        counts[first, second] += 1
        return (counts + alpha) / (counts + alpha).sum(axis=1, keepdims=True)

    assert_judged_alike_on_fresh_inputs(check.EXERCISES["12-bigram-table"],
                                        check.reference_bigram_table, buffered, seed)
