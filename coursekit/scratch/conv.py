"""Convolution layers for images: Conv2d, MaxPool2d, Flatten and Unflatten.

Images travel as arrays of shape (N, C, H, W): samples, channels, rows, columns (PyTorch's
layout). The layers keep the contract of :mod:`coursekit.scratch.layers` (``forward`` /
``backward``, ``params`` / ``grads`` under the same names), so they go into a
:class:`~coursekit.scratch.Sequential` and through the gradient checks like any other layer.

Both Conv2d and MaxPool2d are vectorised over samples and pixels. Forward gathers every patch
the kernel sees with :func:`im2col`, so a convolution is one matrix product; backward adds the
patch gradients back with :func:`col2im`. Their only Python loops run over the kernel's
KH × KW offsets, never over pixels or samples.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from coursekit.scratch.layers import Layer, _check_dout

__all__ = [
    "Conv2d", "MaxPool2d", "Flatten", "Unflatten", "im2col", "col2im", "conv_output_size",
]

RandomState = int | np.random.Generator | None
Pair = int | tuple[int, int]


def _pair(name: str, value: Pair, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each >= minimum, as a pair (rows, columns)."""
    pair = (value, value) if isinstance(value, int | np.integer) else tuple(value)
    if len(pair) != 2 or any(
        isinstance(v, bool) or not isinstance(v, int | np.integer) or v < minimum for v in pair
    ):
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length along one axis: ``(size + 2 * padding - kernel) // stride + 1``.

    Raises ``ValueError`` when the padded input is shorter than the kernel.
    """
    padded = size + 2 * padding
    if padded < kernel:
        raise ValueError(
            f"an axis of length {size} padded by {padding} on each side is {padded}, "
            f"shorter than the kernel ({kernel})"
        )
    return (padded - kernel) // stride + 1


def im2col(
    x: np.ndarray, kernel_size: tuple[int, int], stride: tuple[int, int],
    padding: tuple[int, int], *, fill: float = 0.0,
) -> np.ndarray:
    """Every patch a kernel sees, laid out for one matrix product, samples last.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
    kernel_size, stride, padding : (rows, columns)
    fill : float
        Value of the padding (0 for a convolution, -inf for max pooling).

    Returns
    -------
    cols : ndarray of shape (C, KH, KW, OH, OW, N), C-contiguous
        ``cols[c, u, v, i, j, n] = xpad[n, c, i*sh + u, j*sw + v]``, so
        ``cols.reshape(C * KH * KW, OH * OW * N)`` is the im2col matrix with one column per
        output pixel. The samples sit on the last axis because the images of this course are
        small: copying a slice of a few pixels at a time would spend its time in loop
        overhead, while a slice along the batch is one long contiguous run.
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh = conv_output_size(h, kh, sh, ph)
    ow = conv_output_size(w, kw, sw, pw)
    xt = np.full((c, h + 2 * ph, w + 2 * pw, n), fill, dtype=x.dtype)
    xt[:, ph:ph + h, pw:pw + w, :] = x.transpose(1, 2, 3, 0)  # (C, Hp, Wp, N)
    cols = np.empty((c, kh, kw, oh, ow, n), dtype=x.dtype)
    for u in range(kh):  # a loop over the kernel's offsets, each copy vectorised over pixels
        for v in range(kw):
            cols[:, u, v] = xt[:, u:u + sh * (oh - 1) + 1:sh, v:v + sw * (ow - 1) + 1:sw, :]
    return cols


def col2im(
    dcols: np.ndarray, x_shape: tuple[int, int, int, int], stride: tuple[int, int],
    padding: tuple[int, int],
) -> np.ndarray:
    """The adjoint of :func:`im2col`: add every patch gradient back onto the input's pixels.

    Parameters
    ----------
    dcols : ndarray of shape (C, KH, KW, OH, OW, N)
        Gradient with respect to each patch entry, in :func:`im2col`'s layout.
    x_shape : (N, C, H, W)
        Shape of the unpadded input.

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
        A pixel covered by several patches (stride smaller than the kernel) receives the sum
        of their gradients: ``+=``, never ``=``.
    """
    n, c, h, w = x_shape
    _, kh, kw, oh, ow, _ = dcols.shape
    (sh, sw), (ph, pw) = stride, padding
    dxt = np.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=dcols.dtype)
    for u in range(kh):
        for v in range(kw):
            dxt[:, u:u + sh * (oh - 1) + 1:sh, v:v + sw * (ow - 1) + 1:sw, :] += dcols[:, u, v]
    return dxt[:, ph:ph + h, pw:pw + w, :].transpose(3, 0, 1, 2)  # (N, C, H, W), a view


class Conv2d(Layer):
    """A 2-D convolution (cross-correlation, as in every deep-learning library).

    ``out[n, f, i, j] = b[f] + sum_{c, u, v} W[f, c, u, v] * xpad[n, c, i*sh + u, j*sw + v]``
    where ``xpad`` is the input with ``padding`` zeros around each image.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (KH, KW)
    stride : int or (rows, columns), default=1
    padding : int or (rows, columns), default=0
        Zeros added on each side of every image.
    init : {"he", "small"}, default="he"
        ``"he"``: ``W = randn * sqrt(2 / fan_in)`` with ``fan_in = C_in * KH * KW``;
        ``"small"``: ``W = 0.01 * randn``. Biases start at zero.
    random_state : int, numpy.random.Generator or None
        Seed or generator for the initial weights.

    Attributes
    ----------
    params : dict
        ``"W"`` of shape (out_channels, in_channels, KH, KW) (PyTorch's layout, so
        ``conv.weight.copy_(torch.from_numpy(W))`` needs no transpose) and ``"b"`` of shape
        (out_channels,), float64.
    grads : dict
        Same keys and shapes, filled by ``backward``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: Pair, *, stride: Pair = 1,
        padding: Pair = 0, init: str = "he", random_state: RandomState = None,
    ) -> None:
        super().__init__()
        if isinstance(in_channels, bool) or isinstance(out_channels, bool) \
                or int(in_channels) < 1 or int(out_channels) < 1:
            raise ValueError(
                "Conv2d needs in_channels >= 1 and out_channels >= 1, "
                f"got ({in_channels}, {out_channels})"
            )
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = _pair("stride", stride, 1)
        self.padding = _pair("padding", padding, 0)
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        if init == "he":
            scale = math.sqrt(2.0 / fan_in)
        elif init == "small":
            scale = 0.01
        else:
            raise ValueError(f"init must be 'he' or 'small', got {init!r}")
        self.init = init
        rng = np.random.default_rng(random_state)
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        self.params = {
            "W": scale * rng.standard_normal(shape, dtype=np.float64),
            "b": np.zeros(self.out_channels, dtype=np.float64),
        }
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self._cols: np.ndarray | None = None
        self._x_shape: tuple[int, int, int, int] | None = None

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """(N, C_in, H, W) -> (N, C_out, OH, OW); ``ValueError`` if the input does not fit."""
        if len(input_shape) != 4 or input_shape[1] != self.in_channels:
            raise ValueError(
                f"{self!r} expects input of shape (N, {self.in_channels}, H, W), "
                f"got {tuple(input_shape)}"
            )
        n, _, h, w = input_shape
        try:
            oh = conv_output_size(h, self.kernel_size[0], self.stride[0], self.padding[0])
            ow = conv_output_size(w, self.kernel_size[1], self.stride[1], self.padding[1])
        except ValueError as exc:
            raise ValueError(
                f"{self!r} expects images of at least {self._smallest()} (rows, columns), "
                f"got input of shape {tuple(input_shape)}: {exc}"
            ) from None
        return n, self.out_channels, oh, ow

    def _smallest(self) -> tuple[int, int]:
        return (max(1, self.kernel_size[0] - 2 * self.padding[0]),
                max(1, self.kernel_size[1] - 2 * self.padding[1]))

    def forward(self, x: ArrayLike) -> np.ndarray:
        """x : ndarray of shape (N, C_in, H, W) -> ndarray of shape (N, C_out, OH, OW)."""
        x = np.asarray(x)
        n, f, oh, ow = self.output_shape(x.shape)
        cols = im2col(x, self.kernel_size, self.stride, self.padding)  # (C, KH, KW, OH, OW, N)
        self._cols, self._x_shape = cols, x.shape
        W = self.params["W"].reshape(f, -1)  # (F, C*KH*KW)
        out = W @ cols.reshape(W.shape[1], -1)  # one matrix product: (F, OH*OW*N)
        out += self.params["b"][:, None]
        return out.reshape(f, oh, ow, n).transpose(3, 0, 1, 2)  # (N, F, OH, OW), a view

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout : ndarray of shape (N, C_out, OH, OW) -> dL/dx of shape (N, C_in, H, W)."""
        cols = self._saved(self._cols)
        assert self._x_shape is not None
        oh, ow, n = cols.shape[3:]
        f = self.out_channels
        dout = _check_dout(self, dout, (n, f, oh, ow))
        dmat = dout.transpose(1, 2, 3, 0).reshape(f, -1)  # (F, OH*OW*N), im2col's columns
        cmat = cols.reshape(-1, dmat.shape[1])  # (C*KH*KW, OH*OW*N)
        self.grads["W"] = (dmat @ cmat.T).reshape(self.params["W"].shape)
        self.grads["b"] = dmat.sum(axis=1)
        dcols = self.params["W"].reshape(f, -1).T @ dmat  # (C*KH*KW, OH*OW*N)
        return col2im(dcols.reshape(cols.shape), self._x_shape, self.stride, self.padding)

    def __repr__(self) -> str:
        extra = ""
        if self.stride != (1, 1):
            extra += f", stride={_short(self.stride)}"
        if self.padding != (0, 0):
            extra += f", padding={_short(self.padding)}"
        return (f"Conv2d({self.in_channels}, {self.out_channels}, "
                f"{_short(self.kernel_size)}{extra})")


def _short(pair: tuple[int, int]) -> int | tuple[int, int]:
    return pair[0] if pair[0] == pair[1] else pair


class MaxPool2d(Layer):
    """The largest value of each window, per channel: ``out[n, c, i, j] = max(window)``.

    Parameters
    ----------
    kernel_size : int or (KH, KW)
    stride : int, (rows, columns) or None, default=None
        None means the kernel size (windows side by side, PyTorch's default).
    padding : int or (rows, columns), default=0
        Implicit -inf added on each side; at most half the kernel (PyTorch's rule).

    Backward sends each output's gradient to the one input that was the window's maximum
    (the first in row-major order when several tie, as PyTorch does); an input that is the
    maximum of several overlapping windows receives the sum.
    """

    def __init__(self, kernel_size: Pair, *, stride: Pair | None = None, padding: Pair = 0) -> None:
        super().__init__()
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else _pair("stride", stride, 1)
        self.padding = _pair("padding", padding, 0)
        for k, p in zip(self.kernel_size, self.padding, strict=True):
            if 2 * p > k:
                raise ValueError(
                    f"MaxPool2d padding must be at most half the kernel size, got padding "
                    f"{_short(self.padding)} for kernel_size {_short(self.kernel_size)}"
                )
        self._argmax: np.ndarray | None = None
        self._x_shape: tuple[int, int, int, int] | None = None

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """(N, C, H, W) -> (N, C, OH, OW); ``ValueError`` if the input does not fit."""
        if len(input_shape) != 4:
            raise ValueError(f"{self!r} expects input of shape (N, C, H, W), "
                             f"got {tuple(input_shape)}")
        n, c, h, w = input_shape
        try:
            oh = conv_output_size(h, self.kernel_size[0], self.stride[0], self.padding[0])
            ow = conv_output_size(w, self.kernel_size[1], self.stride[1], self.padding[1])
        except ValueError as exc:
            raise ValueError(f"{self!r} cannot pool input of shape {tuple(input_shape)}: "
                             f"{exc}") from None
        return n, c, oh, ow

    def forward(self, x: ArrayLike) -> np.ndarray:
        """x : ndarray of shape (N, C, H, W) -> ndarray of shape (N, C, OH, OW)."""
        x = np.asarray(x)
        n, c, oh, ow = self.output_shape(x.shape)
        kh, kw = self.kernel_size
        fill = -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
        cols = im2col(x, self.kernel_size, self.stride, self.padding, fill=fill)
        windows = cols.reshape(c, kh * kw, oh, ow, n)
        # The first maximum in row-major window order wins a tie, as in PyTorch.
        argmax = windows.argmax(axis=1)  # (C, OH, OW, N)
        self._argmax, self._x_shape = argmax, x.shape
        out = np.take_along_axis(windows, argmax[:, None], axis=1)[:, 0]
        return out.transpose(3, 0, 1, 2)  # (N, C, OH, OW), a view

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout : ndarray of shape (N, C, OH, OW) -> dL/dx of shape (N, C, H, W)."""
        argmax = self._saved(self._argmax)
        assert self._x_shape is not None
        c, oh, ow, n = argmax.shape
        dout = _check_dout(self, dout, (n, c, oh, ow))
        kh, kw = self.kernel_size
        dt = dout.transpose(1, 2, 3, 0)  # (C, OH, OW, N), like argmax
        # Each window's gradient goes to its maximum only: offset k gets dout where argmax == k.
        dcols = np.zeros((c, kh * kw, oh, ow, n), dtype=np.result_type(dout.dtype, np.float32))
        np.put_along_axis(dcols, argmax[:, None], dt[:, None], axis=1)
        return col2im(dcols.reshape(c, kh, kw, oh, ow, n), self._x_shape, self.stride,
                      self.padding)

    def __repr__(self) -> str:
        extra = "" if self.stride == self.kernel_size else f", stride={_short(self.stride)}"
        if self.padding != (0, 0):
            extra += f", padding={_short(self.padding)}"
        return f"MaxPool2d({_short(self.kernel_size)}{extra})"


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...): images into rows for a Dense layer."""

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        """x : ndarray of shape (N, ...) with at least one axis -> ndarray of shape (N, D)."""
        x = np.asarray(x)
        if x.ndim < 1:
            raise ValueError(f"Flatten expects input of shape (N, ...), got {x.shape}")
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self._shape is None:
            raise RuntimeError(f"{self!r}: call forward before backward")
        n = self._shape[0]
        dout = _check_dout(self, dout, (n, int(np.prod(self._shape[1:], dtype=np.int64))))
        return dout.reshape(self._shape)


class Unflatten(Layer):
    """(N, D) -> (N, *shape): rows back into images, e.g. ``Unflatten((1, 8, 8))`` for digits.

    ``Sequential.fit`` and ``predict`` take rows of features, (N, n_features); a convolutional
    network starts with this layer to see them as (N, C, H, W) images.
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        shape = tuple(shape)
        if not shape or any(
            isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 1 for s in shape
        ):
            raise ValueError(f"Unflatten needs a shape of positive ints, got {shape!r}")
        self.shape = tuple(int(s) for s in shape)
        self.size = int(np.prod(self.shape, dtype=np.int64))
        self._n: int | None = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        """x : ndarray of shape (N, prod(shape)) -> ndarray of shape (N, *shape)."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.size:
            raise ValueError(f"{self!r} expects input of shape (N, {self.size}), got {x.shape}")
        self._n = x.shape[0]
        return x.reshape(x.shape[0], *self.shape)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self._n is None:
            raise RuntimeError(f"{self!r}: call forward before backward")
        dout = _check_dout(self, dout, (self._n, *self.shape))
        return dout.reshape(self._n, self.size)

    def __repr__(self) -> str:
        return f"Unflatten({self.shape})"
