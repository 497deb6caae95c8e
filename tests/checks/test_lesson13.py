"""Lesson 13 checks: the references pass, valid versions written differently pass (and run the
lesson's later cells), and what no declared mistake covers is named: arguments changed in
place, float32 answers, a stub, a wrong number of results. Declared mistakes are tested in
test_mistakes.py."""

import numpy as np
import pytest

from coursekit.checks import lesson13 as check
from coursekit.exercise import ExerciseFailed

REFERENCES = {"13-attention": check.reference_attention,
              "13-attention-backward": check.reference_attention_backward,
              "13-split-heads": check.reference_split_heads,
              "13-layer-norm": check.reference_layer_norm}


# ---- valid versions written differently ----

def _attention_einsum(q, k, v, causal):
    scores = np.einsum("...td,...sd->...ts", q, k) / q.shape[-1] ** 0.5
    if causal:
        t, s = scores.shape[-2:]
        scores = scores + np.triu(np.full((t, s), -np.inf), k=1)
    scores = scores - np.max(scores, axis=-1, keepdims=True)
    weights = np.exp(scores) / np.sum(np.exp(scores), axis=-1, keepdims=True)
    return np.einsum("...ts,...sd->...td", weights, v), weights


def _attention_log_sum_exp(query, key, value, causal):
    # other names for the arguments the lesson passes by position; the softmax as
    # exp(scores - logsumexp(scores)), the mask as boolean indexing
    q, k, v = query, key, value
    scores = np.matmul(q, np.moveaxis(k, -1, -2)) * q.shape[-1] ** -0.5
    if causal:
        scores[..., ~np.tri(*scores.shape[-2:], dtype=bool)] = -np.inf
    top = scores.max(axis=-1, keepdims=True)
    log_total = top + np.log(np.exp(scores - top).sum(axis=-1, keepdims=True))
    weights = np.exp(scores - log_total)
    return weights @ v, weights


def _backward_einsum(dout, q, k, v, weights):
    dv = np.einsum("...ts,...td->...sd", weights, dout)
    dw = np.einsum("...td,...sd->...ts", dout, v)
    ds = weights * dw - weights * np.einsum("...ts,...ts->...t", dw, weights)[..., None]
    ds = ds / np.sqrt(q.shape[-1])
    return np.einsum("...ts,...sd->...td", ds, k), np.einsum("...ts,...td->...sd", ds, q), dv


def _backward_jacobian(dout, q, k, v, weights):
    # the softmax's Jacobian built row by row: diag(p) - p pᵀ
    dv = np.swapaxes(weights, -1, -2) @ dout
    dw = dout @ np.swapaxes(v, -1, -2)
    p = weights[..., :, :, None]  # (..., T, S, 1)
    jacobian = np.eye(weights.shape[-1]) * p - p * np.swapaxes(p, -1, -2)  # (..., T, S, S)
    ds = (jacobian @ dw[..., None])[..., 0] / np.sqrt(q.shape[-1])
    return ds @ k, np.swapaxes(ds, -1, -2) @ q, dv


def _split_stack(x, num_heads):
    return np.stack(np.split(x, num_heads, axis=-1), axis=1)


def _split_einops_style(x, num_heads):
    n, t, e = x.shape
    return np.moveaxis(x.reshape(n, t, num_heads, e // num_heads), 2, 1)


def _layer_norm_std(x, gamma, beta, eps=1e-5):
    centred = x - np.mean(x, axis=-1)[..., None]
    return centred / np.sqrt(np.mean(centred**2, axis=-1)[..., None] + eps) * gamma + beta


def _layer_norm_loop(x, gamma, beta, eps=1e-5):
    out = np.empty_like(x, dtype=np.float64)
    for index in np.ndindex(x.shape[:-1]):
        row = x[index]
        out[index] = gamma * (row - row.mean()) / np.sqrt(row.var() + eps) + beta
    return out


#: Every exercise of lesson 13 -> valid versions a student could write in its solution cell.
VALID_VERSIONS: dict[str, list[object]] = {
    "13-attention": [_attention_einsum, _attention_log_sum_exp],
    "13-attention-backward": [_backward_einsum, _backward_jacobian],
    "13-split-heads": [_split_stack, _split_einops_style],
    "13-layer-norm": [_layer_norm_std, _layer_norm_loop],
}


# ---- what no declared mistake covers ----

def _attention_scales_q_in_place(q, k, v, causal):
    q /= np.sqrt(q.shape[-1])
    return _attention_einsum(q * np.sqrt(q.shape[-1]), k, v, causal)


def _attention_out_only(q, k, v, causal):
    return _attention_einsum(q, k, v, causal)[0]


def _attention_float32(q, k, v, causal):
    out, weights = _attention_einsum(q, k, v, causal)
    return out.astype(np.float32), weights.astype(np.float32)


def _backward_reuses_weights(dout, q, k, v, weights):
    weights *= 1.0  # harmless, but the in-place softmax below is not
    dw = dout @ np.swapaxes(v, -1, -2)
    dv = np.swapaxes(weights, -1, -2) @ dout
    weights *= dw - np.sum(dw * weights, axis=-1, keepdims=True)
    weights /= np.sqrt(q.shape[-1])
    return weights @ k, np.swapaxes(weights, -1, -2) @ q, dv


def _norm_in_place(x, gamma, beta, eps=1e-5):
    x -= x.mean(axis=-1, keepdims=True)
    x /= np.sqrt(x.var(axis=-1, keepdims=True) + eps)
    return gamma * x + beta


def _stub(*args):
    raise NotImplementedError


def _attention_is_causal(q, k, v, is_causal):  # the later cells pass causal=True by name
    return _attention_einsum(q, k, v, is_causal)


def _attention_denominator_constant(q, k, v, causal):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if causal:
        scores = np.where(np.tri(*scores.shape[-2:], dtype=bool), scores, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = e / (e.sum(axis=-1, keepdims=True) + 1e-9)
    return weights @ v, weights


def _attention_longdouble(q, k, v, causal):
    return tuple(a.astype(np.longdouble) for a in _attention_einsum(q, k, v, causal))


def _attention_max_before_mask(q, k, v, causal):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    top = scores.max(axis=-1, keepdims=True)  # over the future too
    if causal:
        scores = np.where(np.tri(*scores.shape[-2:], dtype=bool), scores, -np.inf)
    weights = np.exp(scores - top)
    with np.errstate(invalid="ignore"):  # rows whose allowed weights underflowed: 0 / 0
        weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ v, weights


def _backward_guarded_division(dout, q, k, v, weights):
    # 5e-7 relative off: the lesson's gradient check (1e-7) fails on it
    dv = np.swapaxes(weights, -1, -2) @ dout
    dweights = dout @ np.swapaxes(v, -1, -2)
    dscores = weights * (dweights - np.sum(dweights * weights, axis=-1, keepdims=True))
    dscores = dscores / (np.sqrt(q.shape[-1]) + 1e-6)
    return dscores @ k, np.swapaxes(dscores, -1, -2) @ q, dv


def _split_float32(x, num_heads):
    return _split_einops_style(x, num_heads).astype(np.float32)


def _norm_default_eps(x, gamma, beta, eps=1e-6):
    return _layer_norm_std(x, gamma, beta, eps)


def _norm_eps_squared(x, gamma, beta, eps=1e-5):
    return _layer_norm_std(x, gamma, beta, eps**2)


@pytest.mark.parametrize(("exercise_id", "wrong", "message"), [
    ("13-attention", _attention_scales_q_in_place, "changed `q` in place"),
    ("13-attention", _attention_out_only, r"expected a tuple of 2 \(out, weights\)"),
    ("13-attention", _attention_float32, "float64"),
    ("13-attention-backward", _backward_reuses_weights, "changed `weights` in place"),
    ("13-layer-norm", _norm_in_place, "changed `x` in place"),
    ("13-split-heads", _stub, "NotImplementedError"),
    ("13-attention", _attention_is_causal, "keep the stub's parameter name causal"),
    ("13-attention", _attention_denominator_constant,
     r"each row of weights sums to 1 − \de-1\d, not 1: a constant in the softmax's "
     r"denominator"),
    ("13-attention", _attention_longdouble, r"your answer is float128, not float64"),
    ("13-split-heads", _split_float32, "your answer is float32; keep every array float64"),
    ("13-attention", _attention_max_before_mask,
     "each row's maximum came from scores the mask hides"),
    ("13-attention-backward", _backward_guarded_division, "a small constant the formula does "
                                                          "not have"),
    ("13-layer-norm", _norm_default_eps, r"eps left at its default: called without eps, your "
                                         r"function used eps = 1\.0e-06: its default is 1e-5"),
    ("13-layer-norm", _norm_eps_squared, "eps is missing, or far smaller than the one given"),
])
def test_what_no_mistake_covers_is_named(exercise_id, wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.EXERCISES[exercise_id](wrong)
