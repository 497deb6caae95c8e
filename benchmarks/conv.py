"""Benchmark of coursekit.scratch.Conv2d: forward + backward on a batch of 8×8 digits.

For each of lesson 11's two convolutions (1 → 16 channels on 8×8 images, 16 → 32 on 4×4 maps,
3×3 kernels, padding 1), one forward and one backward pass of

  (a) coursekit.scratch.Conv2d (im2col + one matrix product, col2im),
  (b) PyTorch on the CPU in float64 (torch.nn.functional.conv2d and autograd),
  (c) a naive implementation with Python loops over samples, filters and output pixels
      (what a first attempt looks like; timed once, it is slow).

All three are first checked to compute the same output and gradients; then each is timed in
this one run, (a) and (b) taking turns, best of several repeats. Goals: a/b <= 3 and
c/a >= 20. Run: ``OMP_NUM_THREADS=1 python benchmarks/conv.py``; ``main()`` returns the figures.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # as make bench does; set before NumPy loads

import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from coursekit.scratch import Conv2d  # noqa: E402

BATCH = 128
LAYERS = ((1, 16, 8), (16, 32, 4))  # (in channels, out channels, image side)
GOAL_TORCH, GOAL_NAIVE = 3.0, 20.0

Grads = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def inputs(c_in: int, side: int, seed: int) -> np.ndarray:
    """A batch of digits (scaled to [0, 1]) when c_in is 1; feature-map-like noise otherwise."""
    if c_in == 1 and side == 8:
        images = load_digits().images[:BATCH] / 16.0
        return images[:, None].astype(np.float64)
    rng = np.random.default_rng(seed)
    return np.maximum(rng.standard_normal((BATCH, c_in, side, side)), 0.0)


def scratch_pass(layer: Conv2d, x: np.ndarray, dout: np.ndarray) -> Callable[[], Grads]:
    def run() -> Grads:
        out = layer.forward(x)
        dx = layer.backward(dout)
        return out, dx, layer.grads["W"], layer.grads["b"]

    return run


def torch_pass(layer: Conv2d, x: np.ndarray, dout: np.ndarray) -> Callable[[], Grads]:
    xt = torch.tensor(x, requires_grad=True)
    Wt = torch.tensor(layer.params["W"], requires_grad=True)
    bt = torch.tensor(layer.params["b"], requires_grad=True)
    dt = torch.tensor(dout)

    def run() -> Grads:
        xt.grad = Wt.grad = bt.grad = None
        out = torch.nn.functional.conv2d(xt, Wt, bt, padding=1)
        out.backward(dt)
        return out.detach().numpy(), xt.grad.numpy(), Wt.grad.numpy(), bt.grad.numpy()

    return run


def naive_pass(layer: Conv2d, x: np.ndarray, dout: np.ndarray) -> Callable[[], Grads]:
    """Forward and backward with loops over samples, filters and output pixels."""
    W, b = layer.params["W"], layer.params["b"]
    kh, kw = layer.kernel_size
    p = layer.padding[0]

    def run() -> Grads:
        n, _, h, w = x.shape
        f = W.shape[0]
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        oh, ow = h + 2 * p - kh + 1, w + 2 * p - kw + 1
        out = np.zeros((n, f, oh, ow))
        dxp, dW = np.zeros_like(xp), np.zeros_like(W)
        for s in range(n):
            for k in range(f):
                for i in range(oh):
                    for j in range(ow):
                        out[s, k, i, j] = np.sum(xp[s, :, i:i + kh, j:j + kw] * W[k]) + b[k]
        for s in range(n):
            for k in range(f):
                for i in range(oh):
                    for j in range(ow):
                        g = dout[s, k, i, j]
                        dW[k] += g * xp[s, :, i:i + kh, j:j + kw]
                        dxp[s, :, i:i + kh, j:j + kw] += g * W[k]
        db = dout.sum(axis=(0, 2, 3))
        return out, dxp[:, :, p:p + h, p:p + w], dW, db

    return run


def best_ms(runs: dict[str, Callable[[], Grads]], number: int, repeats: int) -> dict[str, float]:
    """Best-of-``repeats`` mean time of one call, in ms; the runs take turns."""
    for run in runs.values():
        run()
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            for _ in range(number):
                run()
            best[name] = min(best[name], (time.perf_counter() - start) / number)
    return {name: seconds * 1e3 for name, seconds in best.items()}


def main() -> dict[str, float]:
    """Time every layer, print a table, return the figures (times in ms, ratios)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # NumPy runs on one thread too
    try:
        return _main()
    finally:
        torch.set_num_threads(threads)


def _main() -> dict[str, float]:
    figures: dict[str, float] = {}
    print(f"Conv2d forward + backward, batch of {BATCH}, 3x3 kernels, padding 1, float64")
    print(f"  {'layer':<22}{'scratch':>10}{'torch':>10}{'naive':>11}"
          f"{'scratch/torch':>15}{'naive/scratch':>15}")
    for index, (c_in, c_out, side) in enumerate(LAYERS):
        x = inputs(c_in, side, seed=index)
        layer = Conv2d(c_in, c_out, 3, padding=1, random_state=index)
        layer.params["b"][...] = np.random.default_rng(index + 10).standard_normal(c_out)
        dout = np.random.default_rng(index + 20).standard_normal((BATCH, c_out, side, side))
        runs = {
            "scratch": scratch_pass(layer, x, dout),
            "torch": torch_pass(layer, x, dout),
            "naive": naive_pass(layer, x, dout),
        }
        reference = runs["torch"]()
        for name in ("scratch", "naive"):  # the timing is moot unless all three agree
            for got, want in zip(runs[name](), reference, strict=True):
                np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11,
                                           err_msg=f"{name} disagrees with torch")
        ms = best_ms({k: runs[k] for k in ("scratch", "torch")}, number=20, repeats=15)
        ms.update(best_ms({"naive": runs["naive"]}, number=1, repeats=1))
        label = f"{c_in}->{c_out} on {side}x{side}"
        key = f"conv{index + 1}"
        for name, value in ms.items():
            figures[f"{key}_{name}_ms"] = value
        figures[f"{key}_ratio_scratch_over_torch"] = ms["scratch"] / ms["torch"]
        figures[f"{key}_ratio_naive_over_scratch"] = ms["naive"] / ms["scratch"]
        print(f"  {label:<22}{ms['scratch']:8.2f}ms{ms['torch']:8.2f}ms{ms['naive']:9.1f}ms"
              f"{figures[f'{key}_ratio_scratch_over_torch']:15.2f}"
              f"{figures[f'{key}_ratio_naive_over_scratch']:15.0f}")
    worst_torch = max(v for k, v in figures.items() if k.endswith("scratch_over_torch"))
    worst_naive = min(v for k, v in figures.items() if k.endswith("naive_over_scratch"))
    print(f"  worst scratch/torch {worst_torch:.2f} (goal <= {GOAL_TORCH:g}): "
          f"{'ok' if worst_torch <= GOAL_TORCH else 'MISSED'};  worst naive/scratch "
          f"{worst_naive:.0f} (goal >= {GOAL_NAIVE:g}): "
          f"{'ok' if worst_naive >= GOAL_NAIVE else 'MISSED'}")
    return figures


if __name__ == "__main__":
    main()
