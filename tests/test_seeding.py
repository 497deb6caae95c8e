"""coursekit.seeding: one way to turn a random_state into a NumPy or torch generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from coursekit import seeding


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True, np.random.RandomState(0)])
def test_as_generator_rejects_other_seeds(bad: object) -> None:
    with pytest.raises(ValueError, match="random_state must be"):
        seeding.as_generator(bad)  # type: ignore[arg-type]


def test_as_generator_passes_a_generator_through_and_seeds_reproducibly() -> None:
    gen = np.random.default_rng(0)
    assert seeding.as_generator(gen) is gen
    assert seeding.as_generator(np.int64(3)).random() == seeding.as_generator(3).random()


def test_as_seed_keeps_an_int_and_draws_from_a_generator() -> None:
    assert seeding.as_seed(26) == 26
    assert seeding.as_seed(np.random.default_rng(1)) == seeding.as_seed(np.random.default_rng(1))
    assert 0 <= seeding.as_seed(None) < 2**31 - 1


def test_as_torch_generator_is_reproducible_from_every_kind_of_seed() -> None:
    a = torch.rand(3, generator=seeding.as_torch_generator(5))
    b = torch.rand(3, generator=seeding.as_torch_generator(5))
    assert torch.equal(a, b)
    c = torch.rand(3, generator=seeding.as_torch_generator(np.random.default_rng(1)))
    d = torch.rand(3, generator=seeding.as_torch_generator(np.random.default_rng(1)))
    assert torch.equal(c, d)
    gen = torch.Generator()
    assert seeding.as_torch_generator(gen) is gen
    assert isinstance(seeding.as_torch_generator(None), torch.Generator)


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_as_torch_generator_rejects_other_seeds(bad: object) -> None:
    with pytest.raises(ValueError, match="random_state must be"):
        seeding.as_torch_generator(bad)  # type: ignore[arg-type]


