"""Scaled dot-product attention and a multi-head self-attention layer, forward and backward.

Attention lets every position of a sequence look at the others. For queries ``q`` (T, d),
keys ``k`` (S, d) and values ``v`` (S, d_v)::

    scores  = q @ k.T / sqrt(d)          (T, S): how well query t matches key s
    weights = softmax(scores, axis=-1)   each row sums to 1
    out     = weights @ v                (T, d_v): a weighted average of the values

A *causal* mask lets position t look only at positions s <= t (a language model must not
read the future): the scores above the diagonal are set to ``-inf`` before the softmax, so
their weights are exactly 0. The diagonal always stays, so no row is ever fully masked.

Backward, with ``g = dL/d(out)``: ``dv = weights.T @ g``; ``dweights = g @ v.T``; through the
softmax of each row ``dscores = weights * (dweights - sum(dweights * weights, axis=-1))``
(masked entries have weight 0, so they get no gradient); then ``dq = dscores @ k / sqrt(d)``
and ``dk = dscores.T @ q / sqrt(d)``.

:class:`SelfAttention` is ``torch.nn.MultiheadAttention(E, H, batch_first=True)`` with
queries, keys and values all from the same input: one projection to ``3E`` numbers split
into q, k and v, each cut into H heads of ``E / H`` numbers that attend independently, the
heads put side by side again, and an output projection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from coursekit.scratch.layers import Layer, _check_dout
from coursekit.seeding import RandomState, as_generator
from coursekit.validation import check_int

if TYPE_CHECKING:
    import torch

__all__ = ["scaled_dot_product_attention", "attention_backward", "causal_mask",
           "SelfAttention"]


def causal_mask(t: int, s: int | None = None) -> np.ndarray:
    """Boolean (T, S) mask, True where query t may look at key s, i.e. where ``s <= t``.

    For T != S the mask is aligned at the top left, as in ``torch.nn.functional.
    scaled_dot_product_attention(..., is_causal=True)``: row t keeps columns 0..t.
    """
    s = t if s is None else s
    return np.tri(t, s, dtype=bool)


def _check_qkv(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> None:
    """Shapes (..., T, d), (..., S, d), (..., S, d_v) with the same leading axes."""
    if q.ndim < 2:
        raise ValueError(f"attention expects q of shape (..., T, d), got {q.shape}")
    lead, d = q.shape[:-2], q.shape[-1]
    if k.ndim != q.ndim or k.shape[:-2] != lead or k.shape[-1] != d:
        raise ValueError(f"attention expects k of shape {(*lead, 'S', d)} (q's leading axes "
                         f"and width), got {k.shape}".replace("'", ""))
    if v.ndim != q.ndim or v.shape[:-1] != k.shape[:-1]:
        raise ValueError(f"attention expects v of shape {(*k.shape[:-1], 'd_v')} (k's shape "
                         f"but the last axis), got {v.shape}".replace("'", ""))


def scaled_dot_product_attention(
    q: ArrayLike, k: ArrayLike, v: ArrayLike, causal: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``softmax(q @ k^T / sqrt(d)) @ v`` over the last two axes, with an optional causal mask.

    Parameters
    ----------
    q : ndarray of shape (..., T, d)
        Queries: T positions that ask.
    k : ndarray of shape (..., S, d)
        Keys, with q's leading axes (batch, heads, ...) and width d.
    v : ndarray of shape (..., S, d_v)
        Values, one row per key.
    causal : bool
        If True, query t sees only keys s <= t (scores above the diagonal become ``-inf``).

    Returns
    -------
    out : ndarray of shape (..., T, d_v)
    weights : ndarray of shape (..., T, S)
        The attention weights, rows summing to 1 (exact zeros where masked); pass them to
        :func:`attention_backward`.

    Equal to ``torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)``.
    """
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    _check_qkv(q, k, v)
    scale = 1.0 / np.sqrt(q.shape[-1])
    scores = (q @ np.swapaxes(k, -1, -2)) * scale  # (..., T, S)
    if causal:
        scores = np.where(causal_mask(q.shape[-2], k.shape[-2]), scores, -np.inf)
    # every row keeps its column 0, so its maximum is finite and exp never sees inf - inf
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = e / e.sum(axis=-1, keepdims=True)
    return weights @ v, weights


def attention_backward(
    dout: ArrayLike, q: ArrayLike, k: ArrayLike, v: ArrayLike, weights: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`scaled_dot_product_attention` with respect to q, k and v.

    Parameters
    ----------
    dout : ndarray of shape (..., T, d_v)
        dL/d(out).
    q, k, v : ndarrays of shapes (..., T, d), (..., S, d), (..., S, d_v)
        The forward pass's inputs.
    weights : ndarray of shape (..., T, S)
        The forward pass's weights (the causal mask is in their zeros).

    Returns
    -------
    dq, dk, dv : ndarrays of the shapes of q, k and v
    """
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    _check_qkv(q, k, v)
    dout, weights = np.asarray(dout, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    expected = (*q.shape[:-1], v.shape[-1])
    if dout.shape != expected:
        raise ValueError(f"attention_backward expects dout of the output's shape {expected}, "
                         f"got {dout.shape}")
    if weights.shape != (*q.shape[:-1], k.shape[-2]):
        raise ValueError(f"attention_backward expects weights of shape "
                         f"{(*q.shape[:-1], k.shape[-2])}, got {weights.shape}")
    scale = 1.0 / np.sqrt(q.shape[-1])
    dv = np.swapaxes(weights, -1, -2) @ dout  # (..., S, d_v)
    dweights = dout @ np.swapaxes(v, -1, -2)  # (..., T, S)
    dscores = weights * (dweights - (dweights * weights).sum(axis=-1, keepdims=True))
    dscores *= scale
    return dscores @ k, np.swapaxes(dscores, -1, -2) @ q, dv


class SelfAttention(Layer):
    """Multi-head self-attention on sequences of shape (N, T, E), causal by default.

    ``forward(x)``: ``q, k, v = split(x @ W_in.T + b_in)``, each of shape (N, T, E) cut into
    H heads (N, H, T, E/H); :func:`scaled_dot_product_attention` in every head; the heads
    side by side again (N, T, E); ``out = heads @ W_out.T + b_out``.

    Parameters
    ----------
    embed_dim : int
        E, the width of each position's vector.
    num_heads : int
        H; must divide E. Each head works on ``E / H`` numbers.
    causal : bool, default=True
        Position t attends to positions 0..t only.
    random_state : int, numpy.random.Generator or None
        Seed or generator for the initial weights. Drawn as PyTorch draws them:
        ``W_in`` Xavier-uniform, ``U(-a, a)`` with ``a = sqrt(6 / (E + 3E))``; ``W_out``
        ``U(-1/sqrt(E), 1/sqrt(E))``; both biases zero.

    Attributes
    ----------
    params : dict
        float64, laid out as ``torch.nn.MultiheadAttention`` keeps them ((out, in), not
        Dense's (in, out)), so each copies over as it is (:meth:`to_torch`):

        ========== ========= ===========================
        name       shape     in nn.MultiheadAttention
        ========== ========= ===========================
        ``W_in``   (3E, E)   ``in_proj_weight``
        ``b_in``   (3E,)     ``in_proj_bias``
        ``W_out``  (E, E)    ``out_proj.weight``
        ``b_out``  (E,)      ``out_proj.bias``
        ========== ========= ===========================

        Rows ``0:E`` of ``W_in`` and ``b_in`` make the queries, ``E:2E`` the keys, ``2E:3E``
        the values; within each, head h uses rows ``h*E/H:(h+1)*E/H``.
    grads : dict
        Same keys and shapes, filled by ``backward``.
    weights : ndarray of shape (N, H, T, T) or None
        The last forward pass's attention weights, per head (torch's ``need_weights=True,
        average_attn_weights=False``).
    """

    def __init__(self, embed_dim: int, num_heads: int, *, causal: bool = True,
                 random_state: RandomState = None) -> None:
        super().__init__()
        self.embed_dim = check_int("embed_dim", embed_dim)
        self.num_heads = check_int("num_heads", num_heads)
        if self.embed_dim % self.num_heads:
            raise ValueError(f"num_heads must divide embed_dim, got embed_dim={embed_dim} "
                             f"and num_heads={num_heads}")
        self.head_dim = self.embed_dim // self.num_heads
        self.causal = bool(causal)
        e = self.embed_dim
        rng = as_generator(random_state)
        a_in, a_out = np.sqrt(6.0 / (e + 3 * e)), 1.0 / np.sqrt(e)
        self.params = {
            "W_in": rng.uniform(-a_in, a_in, (3 * e, e)),
            "b_in": np.zeros(3 * e, dtype=np.float64),
            "W_out": rng.uniform(-a_out, a_out, (e, e)),
            "b_out": np.zeros(e, dtype=np.float64),
        }
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.weights: np.ndarray | None = None
        self._cache: tuple[np.ndarray, ...] | None = None

    def _split(self, z: np.ndarray) -> np.ndarray:
        """(N, T, E) -> (N, H, T, E/H): head h takes columns h*E/H:(h+1)*E/H."""
        n, t, _ = z.shape
        return z.reshape(n, t, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)

    def _merge(self, z: np.ndarray) -> np.ndarray:
        """(N, H, T, E/H) -> (N, T, E): the heads side by side again."""
        n, _, t, _ = z.shape
        return z.transpose(0, 2, 1, 3).reshape(n, t, self.embed_dim)

    def forward(self, x: ArrayLike) -> np.ndarray:
        """x : ndarray of shape (N, T, E) -> ndarray of shape (N, T, E)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3 or x.shape[2] != self.embed_dim:
            raise ValueError(f"{self!r} expects input of shape (N, T, {self.embed_dim}), "
                             f"got {x.shape}")
        e = self.embed_dim
        qkv = x @ self.params["W_in"].T  # (N, T, 3E)
        qkv += self.params["b_in"]
        q, k, v = (self._split(qkv[..., i * e:(i + 1) * e]) for i in range(3))
        heads, weights = scaled_dot_product_attention(q, k, v, causal=self.causal)
        merged = self._merge(heads)  # (N, T, E)
        out = merged @ self.params["W_out"].T
        out += self.params["b_out"]
        self.weights = weights
        self._cache = (x, q, k, v, weights, merged)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout : ndarray of shape (N, T, E) -> dL/dx of shape (N, T, E); fills grads."""
        if self._cache is None:
            raise RuntimeError(f"{self!r}: call forward before backward")
        x, q, k, v, weights, merged = self._cache
        dout = _check_dout(self, np.asarray(dout, dtype=np.float64), x.shape)
        e = self.embed_dim
        rows = dout.reshape(-1, e)  # every (sample, position) is one row of a Dense layer
        self.grads["W_out"] = rows.T @ merged.reshape(-1, e)  # (E, E), torch's (out, in)
        self.grads["b_out"] = rows.sum(axis=0)
        dheads = self._split(dout @ self.params["W_out"])  # (N, H, T, E/H)
        dq, dk, dv = attention_backward(dheads, q, k, v, weights)
        dqkv = np.concatenate([self._merge(g) for g in (dq, dk, dv)], axis=-1)  # (N, T, 3E)
        flat = dqkv.reshape(-1, 3 * e)
        self.grads["W_in"] = flat.T @ x.reshape(-1, e)  # (3E, E)
        self.grads["b_in"] = flat.sum(axis=0)
        return dqkv @ self.params["W_in"]

    def to_torch(self, mha: torch.nn.MultiheadAttention | None = None
                 ) -> torch.nn.MultiheadAttention:
        """Copy the parameters into ``mha`` (a new float64 ``nn.MultiheadAttention(E, H,
        batch_first=True)`` when None) and return it.

        It then computes what this layer computes when called as
        ``mha(x, x, x, attn_mask=mask)``, with ``mask = torch.ones(T, T, dtype=torch.bool)
        .triu(1)`` (True = not allowed) when the layer is causal, and ``batch_first=True``.
        """
        import torch

        if mha is None:
            mha = torch.nn.MultiheadAttention(self.embed_dim, self.num_heads,
                                              batch_first=True, dtype=torch.float64)
        if mha.embed_dim != self.embed_dim or mha.num_heads != self.num_heads:
            raise ValueError(f"{self!r} copies into nn.MultiheadAttention({self.embed_dim}, "
                             f"{self.num_heads}), got ({mha.embed_dim}, {mha.num_heads})")
        if mha.in_proj_weight is None or mha.in_proj_bias is None or mha.out_proj.bias is None:
            raise ValueError(f"{self!r} copies into an nn.MultiheadAttention with bias=True "
                             "and kdim = vdim = embed_dim (one in_proj_weight)")
        with torch.no_grad():
            for target, name in ((mha.in_proj_weight, "W_in"), (mha.in_proj_bias, "b_in"),
                                 (mha.out_proj.weight, "W_out"), (mha.out_proj.bias, "b_out")):
                target.copy_(torch.from_numpy(self.params[name]))
        return mha

    def __repr__(self) -> str:
        causal = "" if self.causal else ", causal=False"
        return f"SelfAttention({self.embed_dim}, {self.num_heads}{causal})"
