"""Checks for lesson 13, self-attention and a tiny transformer: scaled dot-product attention
with a causal mask (forward and backward), splitting a sequence's features into heads, and
layer normalisation.

Attention over the last two axes: ``scores = q kᵀ / sqrt(d)`` (T, S); a causal mask sets the
scores of keys s > t to −inf *before* the softmax (row t sees keys 0..t); ``weights`` is the
softmax of each row and ``out = weights v``. The references are ``coursekit.scratch``'s, which
equal PyTorch's (tests/scratch/test_attention.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit import scratch
from coursekit.checks.score import scorer
from coursekit.exercise import Mistake, Raised, function, registry
from coursekit.exercise.judging import Tolerance

#: The lesson compares multi-head attention and layer norm with coursekit.scratch's at
#: rtol = atol = 1e-12, so an answer right to six digits only would pass here and fail there.
_EXACT: Tolerance = {"rtol": 1e-12, "atol": 1e-12}

_SCRATCH_ATTENTION = ("coursekit.scratch.scaled_dot_product_attention",
                      "coursekit.scratch.attention.scaled_dot_product_attention",
                      "coursekit.scratch.SelfAttention")


def reference_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                        causal: bool) -> tuple[np.ndarray, np.ndarray]:
    """q (..., T, d), k (..., S, d), v (..., S, d_v) → out (..., T, d_v), weights (..., T, S)."""
    return scratch.scaled_dot_product_attention(q, k, v, causal=causal)


def reference_attention_backward(dout: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                                 weights: np.ndarray) -> tuple[np.ndarray, ...]:
    """dL/dq, dL/dk, dL/dv from dout (..., T, d_v) and the forward's weights (..., T, S)."""
    return scratch.attention_backward(dout, q, k, v, weights)


def reference_split_heads(x: np.ndarray, num_heads: int) -> np.ndarray:
    """(N, T, E) → (N, H, T, E / H): head h takes features h·E/H .. (h + 1)·E/H − 1."""
    n, t, e = x.shape
    return x.reshape(n, t, num_heads, e // num_heads).transpose(0, 2, 1, 3)


def reference_layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                         eps: float = 1e-5) -> np.ndarray:
    """Each vector x[..., :] standardised with its own mean and biased variance, then
    ``gamma * x_hat + beta``; x (..., D), gamma and beta (D,)."""
    layer = scratch.LayerNorm(x.shape[-1], eps=eps)
    layer.params["gamma"], layer.params["beta"] = gamma, beta
    return layer.forward(x)


# ---- 13-attention -------------------------------------------------------------------------------

def _qkv(rng: np.random.Generator, lead: tuple[int, ...], t: int, s: int, d: int,
         dv: int) -> dict[str, np.ndarray]:
    return {"q": rng.normal(size=(*lead, t, d)), "k": rng.normal(size=(*lead, s, d)),
            "v": rng.normal(size=(*lead, s, dv))}


def _attention_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Causal and not; one sequence, heads, a batch of heads; widths other than 1 and 4 (so
    1/d and 1/sqrt(d) differ); more keys than queries and fewer, causal too (row t sees keys
    0..t counted from the first); scores in the thousands (exp overflows unless each row's
    maximum is taken off) and heads of very different sizes (one maximum for the whole array
    leaves the small head's rows 0/0)."""
    shapes = [((), 5, 5, 4, 3, True), ((3,), 6, 6, 8, 8, True), ((2, 2), 4, 4, 9, 5, True),
              ((2,), 4, 4, 6, 2, False), ((), 3, 7, 5, 4, False), ((), 3, 7, 4, 3, True),
              ((2,), 7, 5, 6, 4, True)]
    cases = [{**_qkv(rng, lead, t, s, d, dv), "causal": causal}
             for lead, t, s, d, dv, causal in shapes]
    large = _qkv(rng, (2,), 5, 5, 4, 3)
    large["q"][1] *= 40.0  # head 1's scores reach the thousands; head 0's stay near 1
    large["k"][1] *= 40.0
    return [*cases, {**large, "causal": True}]


def _softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _attend(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool, *,
            scale: float | None = None, allowed: np.ndarray | None = None,
            after: bool | str = False, axis: int = -1, zero: bool = False,
            shift: str = "row") -> tuple[np.ndarray, np.ndarray]:
    """Wrong attentions, each a variation on the right one."""
    scores = q @ np.swapaxes(k, -1, -2) * (1 / np.sqrt(q.shape[-1]) if scale is None else scale)
    keep = np.tri(q.shape[-2], k.shape[-2], dtype=bool) if allowed is None else allowed
    if causal and zero:
        scores = np.where(keep, scores, 0.0)
    elif causal and not after:
        scores = np.where(keep, scores, -np.inf)
    if shift == "row":
        weights = _softmax(scores, axis)
    else:  # "none": exp of the scores as they are; "global": one maximum for the whole array
        e = np.exp(scores - (scores.max() if shift == "global" else 0.0))
        weights = e / e.sum(axis=axis, keepdims=True)
    if causal and after:
        weights = weights * keep
        if after == "renormalised":
            weights = weights / weights.sum(axis=-1, keepdims=True)
    return weights @ v, weights


def _tri(q: np.ndarray, k: np.ndarray, offset: int = 0) -> np.ndarray:
    return np.tri(q.shape[-2], k.shape[-2], k=offset, dtype=bool)


def _denominator_constant(got: Any, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                          causal: bool) -> str | None:
    """Rows of weights that all sum to a little less than 1: a constant in the softmax's
    denominator (``e / (e.sum() + 1e-9)``), right to six digits and wrong to twelve."""
    if getattr(got, "kind", None) != "list" or got.length != 2:
        return None
    weights = got.items[1]
    if weights.kind != "array" or weights.shape != (*q.shape[:-1], k.shape[-2]):
        return None
    short = 1.0 - weights.array.sum(axis=-1)
    if np.all(short > 1e-13) and np.all(short < 1e-3):
        return (f"each row of weights sums to 1 − {np.median(short):.0e}, not 1: a constant "
                "in the softmax's denominator; drop it (once each row's maximum is taken off, "
                "the sum is at least 1)")
    return None


attention = function(
    "13-attention", names=("attention",), args=("q", "k", "v", "causal"), keep=("q", "k", "v"),
    cases=_attention_cases, reference=reference_attention, float64=True, parts=("out", "weights"),
    implemented_by=_SCRATCH_ATTENTION, keywords=("causal",), tolerance=_EXACT,
    explain=_denominator_constant,
    where=lambda q, k, v, causal: f"q {q.shape}, k {k.shape}, causal={causal}",
    passed="out and weights match softmax(q kᵀ / √d, masked before the softmax) v on {n} cases",
    raised=[Raised("TypeError", contains="causal",
                   says="the lesson calls attention(q, k, v, causal=True), and yours raised "
                        "TypeError: {message}: keep the stub's parameter name causal")],
    mistakes=[
        Mistake("the mask was applied after the softmax: the weights of a row no longer sum to 1 "
                "(and the future still shaped them); set the masked scores to -inf before the "
                "softmax", lambda q, k, v, causal: _attend(q, k, v, causal, after=True)),
        Mistake("each row's maximum came from scores the mask hides (taken before masking, or "
                "a softmax over every key, then the future zeroed and the row renormalised): "
                "when the future's scores are far above the past's, the allowed weights "
                "underflow to 0 / 0; mask first (-inf), then subtract the maximum of what each "
                "row may see", lambda q, k, v, causal: _attend(q, k, v, causal,
                                                               after="renormalised")),
        Mistake("the mask keeps the future: query t must see keys s <= t (np.tril / np.tri), not "
                "s >= t", lambda q, k, v, causal: _attend(
                    q, k, v, causal, allowed=np.tri(q.shape[-2], k.shape[-2], dtype=bool).T)),
        Mistake("the mask is inverted: np.tri(T, S) is True where query t may look, so keep "
                "the scores where it is True (PyTorch's attn_mask is the other way round: True "
                "where it may not)",
                lambda q, k, v, causal: _attend(q, k, v, causal, allowed=~_tri(q, k))),
        Mistake("the mask is aligned to the last key (np.tri(T, S, k=S - T)); query t sees keys "
                "0..t counted from the first key whatever S is: np.tri(T, S)",
                lambda q, k, v, causal: _attend(q, k, v, causal,
                                                allowed=_tri(q, k, k.shape[-2] - q.shape[-2]))),
        Mistake("exp overflowed on scores in the thousands (inf / inf = nan): subtract each row's "
                "maximum (axis=-1, keepdims=True) before np.exp",
                lambda q, k, v, causal: _attend(q, k, v, causal, shift="none")),
        Mistake("one maximum for the whole array was taken off: a head whose scores are far "
                "below another's underflows to 0 / 0; subtract each row's own maximum "
                "(axis=-1, keepdims=True)",
                lambda q, k, v, causal: _attend(q, k, v, causal, shift="global")),
        Mistake("that is (weights, out); return (out, weights)",
                lambda q, k, v, causal: _attend(q, k, v, causal)[::-1]),
        Mistake("masked scores were set to 0, which exp turns into a weight like any other; set "
                "them to -inf so their weight is exactly 0",
                lambda q, k, v, causal: _attend(q, k, v, causal, zero=True)),
        Mistake("the mask is missing: with causal=True query t may only see keys s <= t",
                lambda q, k, v, causal: _attend(q, k, v, False)),
        Mistake("the scores are not scaled: divide q kᵀ by sqrt(d), d = q.shape[-1]",
                lambda q, k, v, causal: _attend(q, k, v, causal, scale=1.0)),
        Mistake("the scores are divided by d; divide by sqrt(d), d = q.shape[-1]",
                lambda q, k, v, causal: _attend(q, k, v, causal, scale=1.0 / q.shape[-1])),
        Mistake("the softmax runs down the columns (over the queries); each query's row of "
                "weights over the keys must sum to 1: softmax over the last axis",
                lambda q, k, v, causal: _attend(q, k, v, causal, axis=-2)),
    ])


# ---- 13-attention-backward ----------------------------------------------------------------------

def _backward_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    cases = []
    for lead, t, s, d, dv, causal in [((), 5, 5, 4, 3, True), ((2,), 4, 4, 6, 6, True),
                                      ((2, 3), 3, 3, 5, 2, True), ((), 3, 6, 4, 5, False)]:
        qkv = _qkv(rng, lead, t, s, d, dv)
        _, weights = reference_attention(qkv["q"], qkv["k"], qkv["v"], causal)
        cases.append({"dout": rng.normal(size=(*lead, t, dv)), **qkv, "weights": weights})
    return cases


def _backward(dout: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray, w: np.ndarray, *,
              softmax: str = "right", scale: bool = True) -> tuple[np.ndarray, ...]:
    dv = np.swapaxes(w, -1, -2) @ dout
    dw = dout @ np.swapaxes(v, -1, -2)
    ds = {"right": w * (dw - (dw * w).sum(axis=-1, keepdims=True)),
          "elementwise": w * dw, "diagonal": w * (1 - w) * dw}[softmax]
    if scale:
        ds = ds / np.sqrt(q.shape[-1])
    return ds @ k, np.swapaxes(ds, -1, -2) @ q, dv


def _swapped(dq: np.ndarray, dk: np.ndarray, dv: np.ndarray) -> tuple[np.ndarray, ...]:
    return dk, dq, dv


attention_backward = function(
    "13-attention-backward", names=("attention_backward",),
    args=("dout", "q", "k", "v", "weights"), keep=("dout", "q", "k", "v", "weights"),
    cases=_backward_cases, reference=reference_attention_backward, float64=True,
    tolerance=_EXACT,
    parts=("dq", "dk", "dv"), implemented_by=("coursekit.scratch.attention_backward",
                                              "coursekit.scratch.attention.attention_backward"),
    where=lambda dout, q, k, v, w: f"q {q.shape}, k {k.shape}, v {v.shape}",
    passed="dq, dk and dv match the attention's gradients on {n} cases",
    mistakes=[
        Mistake("the softmax's backward is not elementwise: dscores = weights * (dweights - "
                "sum(dweights * weights, axis=-1, keepdims=True)); the sum is the gradient "
                "through the normalisation", lambda *a: _backward(*a, softmax="elementwise")),
        Mistake("weights * (1 - weights) is only the softmax Jacobian's diagonal; each weight "
                "also depends on the other scores of its row: dscores = weights * (dweights - "
                "sum(dweights * weights, axis=-1, keepdims=True))",
                lambda *a: _backward(*a, softmax="diagonal")),
        Mistake("dq and dk miss the 1/sqrt(d) of the forward pass's scaling",
                lambda *a: _backward(*a, scale=False)),
        Mistake("dq and dk are swapped: dq = dscores @ k, dk = dscoresᵀ @ q",
                lambda *a: _swapped(*_backward(*a))),
        Mistake("dv is weights @ dout; out = weights @ v, so dv = weightsᵀ @ dout",
                lambda dout, q, k, v, w: (*_backward(dout, q, k, v, w)[:2], w @ dout)),
    ])


# ---- 13-split-heads -----------------------------------------------------------------------------

def _heads_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Several heads always (one head hides every mistake); first a head size (8) that is
    neither the number of heads nor the lesson's 4, so each mistake shows as itself; a case
    where T equals H and the batch, so a wrong order of axes keeps the right shape."""
    return [{"x": rng.normal(size=(n, t, e)), "num_heads": h}
            for n, t, e, h in ((2, 5, 24, 3), (1, 4, 8, 4), (3, 6, 6, 2), (2, 2, 8, 2))]


split_heads = function(
    "13-split-heads", names=("split_heads",), args=("x", "num_heads"), keep=("x",),
    cases=_heads_cases, reference=reference_split_heads, float64=True,
    where=lambda x, h: f"x {x.shape} into {h} heads",
    passed="(N, T, E) becomes (N, H, T, E/H), head h holding its own block of features, "
           "on {n} cases",
    mistakes=[
        Mistake("the transpose is missing: reshaping (N, T, E) straight to (N, H, T, E/H) mixes "
                "positions and features; reshape to (N, T, H, E/H), then swap axes 1 and 2",
                lambda x, h: x.reshape(x.shape[0], h, x.shape[1], -1)),
        Mistake("that is (N, T, H, E/H): swap the positions and heads axes (transpose(0, 2, 1, "
                "3)) so each head holds a whole sequence",
                lambda x, h: x.reshape(*x.shape[:2], h, -1)),
        Mistake("each head took every H-th feature (interleaved); head h takes the contiguous "
                "block of features h·E/H .. (h + 1)·E/H − 1, as nn.MultiheadAttention does: "
                "reshape to (N, T, H, E/H)",
                lambda x, h: x.reshape(*x.shape[:2], -1, h).transpose(0, 3, 1, 2)),
        Mistake("the last two axes are swapped, (N, H, E/H, T): each head holds a (T, E/H) "
                "sequence; reshape to (N, T, H, E/H), then transpose(0, 2, 1, 3)",
                lambda x, h: reference_split_heads(x, h).swapaxes(-1, -2)),
        Mistake("the number of heads and the head size are swapped: that is E/H heads of H "
                "features each; reshape to (N, T, num_heads, E // num_heads)",
                lambda x, h: x.reshape(*x.shape[:2], -1, h).transpose(0, 2, 1, 3)),
        Mistake(lambda x, h: f"that is 4 heads, the lesson's number; split into num_heads "
                             f"({h}) heads",
                lambda x, h: reference_split_heads(x, 4) if h != 4 else None),
        Mistake("the heads axis comes first, (H, N, T, E/H): the batch stays first, "
                "(N, H, T, E/H) (np.stack(..., axis=1), or reshape and transpose(0, 2, 1, 3))",
                lambda x, h: np.stack(np.split(x, h, axis=-1))),
    ])


# ---- 13-layer-norm ------------------------------------------------------------------------------

def _norm_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Rows of one sequence, a batch of sequences, rows with a tiny spread (where eps matters)
    and one call that leaves eps at its default."""
    cases: list[dict[str, Any]] = []
    for shape, eps in (((4, 6), 1e-5), ((2, 3, 5), 1e-3), ((3, 8), 0.1)):
        d = shape[-1]
        cases.append({"x": rng.normal(2.0, 3.0, size=shape), "gamma": rng.normal(1.0, 0.3, d),
                      "beta": rng.normal(0.0, 0.5, d), "eps": eps})
    x = rng.normal(size=(3, 4)) * 3e-3  # a variance near 1e-5: the default eps shows
    cases.append({"x": x, "gamma": rng.normal(1.0, 0.3, 4), "beta": rng.normal(0.0, 0.5, 4)})
    return cases


def _normed(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float = 1e-5, *,
            axis: int | None = -1, ddof: int = 0, outside: bool = False) -> np.ndarray:
    mean = x.mean(axis=axis, keepdims=True)
    var = x.var(axis=axis, keepdims=True, ddof=ddof)
    x_hat = (x - mean) / (np.sqrt(var) + eps if outside else np.sqrt(var + eps))
    return g * x_hat + b


def _default_eps(got: Any, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                 *eps: float) -> str | None:
    """Called without eps, the eps the answer used, read back from it: x_hat = (out − beta) /
    gamma, so var + eps = ((x − mean) / x_hat)² on every entry."""
    if eps or getattr(got, "kind", None) != "array" or got.shape != x.shape:
        return None
    centred = x - x.mean(axis=-1, keepdims=True)
    with np.errstate(all="ignore"):
        used = (centred / ((got.array - beta) / gamma)) ** 2 - x.var(axis=-1, keepdims=True)
    used = used[np.abs(centred) > 0.1 * np.abs(centred).max()]
    found = float(np.median(used)) if used.size else float("nan")
    if not np.isfinite(found) or np.ptp(used) > 0.05 * abs(found) or \
            abs(found - 1e-5) < 1e-3 * 1e-5:
        return None
    return (f"called without eps, your function used eps = {found:.1e}: its default is 1e-5, "
            "as in the stub's signature (the lesson's later cells leave it out)")


layer_norm = function(
    "13-layer-norm", names=("layer_norm",), args=("x", "gamma", "beta", "eps"),
    keep=("x", "gamma", "beta"), cases=_norm_cases, reference=reference_layer_norm,
    float64=True, implemented_by=("coursekit.scratch.LayerNorm",), tolerance=_EXACT,
    explain=_default_eps,
    where=lambda x, g, b, *eps: f"x {x.shape}, " + (f"eps={eps[0]:g}" if eps
                                                     else "eps left at its default"),
    passed="each vector is standardised over its last axis, then scaled and shifted, on {n} "
           "cases",
    mistakes=[
        Mistake("that normalises each feature over the rows (axis 0), batchnorm's axis; layer "
                "norm standardises each vector over its own last axis",
                lambda x, g, b, eps=1e-5: _normed(x, g, b, eps, axis=0)),
        Mistake("that standardises the whole array at once; each vector x[..., :] gets its own "
                "mean and variance (axis=-1, keepdims=True)",
                lambda x, g, b, eps=1e-5: _normed(x, g, b, eps, axis=None)),
        Mistake("that is the unbiased variance (ddof=1); layer norm divides by D",
                lambda x, g, b, eps=1e-5: _normed(x, g, b, eps, ddof=1)),
        Mistake("eps was added to the standard deviation; add it to the variance, inside the "
                "square root: (x - mean) / sqrt(var + eps)",
                lambda x, g, b, eps=1e-5: _normed(x, g, b, eps, outside=True)),
        Mistake("gamma and beta are missing: return gamma * x_hat + beta",
                lambda x, g, b, eps=1e-5: _normed(x, np.ones_like(g), np.zeros_like(b), eps)),
        Mistake("gamma and beta are swapped: gamma scales, beta shifts",
                lambda x, g, b, eps=1e-5: _normed(x, b, g, eps)),
        Mistake("eps is missing, or far smaller than the one given: (x - mean) / sqrt(var + "
                "eps) keeps a row of equal values from dividing by zero",
                lambda x, g, b, eps=1e-5: _normed(x, g, b, 0.0),
                tolerance={"rtol": 1e-6, "atol": 1e-8}),
    ])


EXERCISES = registry(attention, attention_backward, split_heads, layer_norm)

score = scorer(EXERCISES)
