"""Randomness in coursekit: each ``random_state`` becomes a generator here, one way.

``random_state`` is an ``int`` seed (>= 0, reproducible), a ``numpy.random.Generator`` (used and
advanced, so one generator can drive several draws), or ``None`` (fresh entropy). Nothing in
coursekit touches NumPy's or torch's global generators; PyTorch code gets a local
``torch.Generator`` from :func:`as_torch_generator`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["RandomState", "TorchRandomState", "as_generator", "as_seed", "as_torch_generator"]

#: What every ``random_state`` argument of coursekit accepts.
RandomState: TypeAlias = "int | np.random.Generator | None"
#: The PyTorch helpers also accept a ``torch.Generator``, used as it is.
TorchRandomState: TypeAlias = "int | np.random.Generator | torch.Generator | None"


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _check_seed(random_state: object) -> int:
    if not _is_int(random_state):
        raise ValueError(
            "random_state must be an int, a numpy.random.Generator or None, "
            f"got {type(random_state).__name__}"
        )
    seed = int(random_state)  # type: ignore[call-overload]
    if seed < 0:
        raise ValueError(f"random_state must be a non-negative int, got {seed}")
    return seed


def as_generator(random_state: RandomState) -> np.random.Generator:
    """A ``numpy.random.Generator`` for a seed, a Generator (returned as it is) or ``None``.

    Raises
    ------
    ValueError
        For a negative seed or anything that is not an int, a Generator or None (a bool, a
        float, NumPy's legacy ``RandomState``).
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    return np.random.default_rng(_check_seed(random_state))


def as_seed(random_state: RandomState, *, high: int = 2**31 - 1) -> int:
    """An int seed in ``[0, high)`` for libraries that want one (scikit-learn, torch).

    An int seed is validated and returned unchanged; a Generator is advanced by one draw;
    ``None`` draws from fresh entropy.
    """
    if random_state is None or isinstance(random_state, np.random.Generator):
        return int(as_generator(random_state).integers(high))
    return _check_seed(random_state)


def as_torch_generator(random_state: TorchRandomState = None) -> torch.Generator:
    """A CPU ``torch.Generator``: from an int seed, a NumPy Generator (advanced once), ``None``
    (fresh entropy), or a ``torch.Generator``, returned unchanged."""
    import torch  # here, so that NumPy-only lessons never pay for importing torch

    if isinstance(random_state, torch.Generator):
        return random_state
    return torch.Generator().manual_seed(as_seed(random_state, high=2**63 - 1))
