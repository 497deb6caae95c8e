"""First names for the character-level language models of lessons 12 and 13.

The list is shipped with coursekit (``coursekit/datasets/names.txt``, no download): the 5,163
distinct first names of the 1990 US census lists (female and male, lower-cased), as carried by
the ``names`` package on the Python Package Index (MIT licence; the census lists themselves are
a work of the US government, in the public domain). See ``coursekit/datasets/README.md``.

A name becomes a sequence of character indices framed by the start/end token ``"."`` (index 0):
``"emma"`` is ``. e m m a .``, and a model learns to predict each character, and the end, from
the ones before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import NamedTuple

import numpy as np

from coursekit.seeding import RandomState, as_generator
from coursekit.validation import check_fraction, check_int

__all__ = ["BOUNDARY", "IGNORE_INDEX", "NamesSplit", "Vocabulary", "contexts", "load_names",
           "read_names", "sequences"]

#: The target of a padding position: PyTorch's ``CrossEntropyLoss`` skips it by default.
IGNORE_INDEX = -100

#: The start/end token: it opens the context of a name's first character and is the target
#: after its last one. Index 0 of every vocabulary.
BOUNDARY = "."


@dataclass(frozen=True)
class Vocabulary:
    """The characters a model can read and write, ``BOUNDARY`` first, then sorted.

    ``index[ch]`` is a character's integer (its row of an embedding table), ``chars[i]`` the
    character of integer i; ``size`` is their number (27 for the names: ``.`` and a–z).
    """

    chars: tuple[str, ...]
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.chars or self.chars[0] != BOUNDARY:
            raise ValueError(f"a vocabulary starts with the boundary token {BOUNDARY!r}, "
                             f"got {self.chars[:1]}")
        if len(set(self.chars)) != len(self.chars) or any(len(c) != 1 for c in self.chars):
            raise ValueError("a vocabulary holds distinct single characters")
        object.__setattr__(self, "index", {ch: i for i, ch in enumerate(self.chars)})

    @classmethod
    def of(cls, names: Iterable[str]) -> Vocabulary:
        """The boundary token and every character that occurs in ``names``, sorted."""
        letters = sorted({ch for name in names for ch in name})
        if BOUNDARY in letters:
            raise ValueError(f"a name may not contain the boundary token {BOUNDARY!r}")
        return cls((BOUNDARY, *letters))

    @property
    def size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """text of length L -> int64 array of shape (L,); an unknown character is a ValueError."""
        unknown = sorted(set(text) - set(self.index))
        if unknown:
            raise ValueError(f"characters {unknown} are not in the vocabulary "
                             f"{''.join(self.chars)!r}")
        return np.array([self.index[ch] for ch in text], dtype=np.int64)

    def decode(self, indices: Iterable[int]) -> str:
        """Integers in [0, size) -> the string of their characters."""
        out = []
        for i in indices:
            if not 0 <= int(i) < self.size:
                raise ValueError(f"index {int(i)} is outside the vocabulary [0, {self.size})")
            out.append(self.chars[int(i)])
        return "".join(out)


class NamesSplit(NamedTuple):
    """Three disjoint lists of names (no name is in two of them) and their vocabulary."""

    train: list[str]
    val: list[str]
    test: list[str]
    vocab: Vocabulary


def read_names() -> list[str]:
    """Every shipped name, lower-case a–z, sorted: 5,163 of them."""
    text = resources.files("coursekit").joinpath("datasets", "names.txt").read_text("ascii")
    return [line for line in text.split() if line]


def load_names(
    *, val_size: float = 0.1, test_size: float = 0.1, random_state: RandomState = 0
) -> NamesSplit:
    """The names shuffled by ``random_state`` and cut into train / validation / test.

    ``val_size`` and ``test_size`` are fractions of all names; the vocabulary is built from all
    of them (every letter occurs in the training part too).
    """
    val_size, test_size = check_fraction("val_size", val_size), check_fraction("test_size",
                                                                               test_size)
    if val_size + test_size >= 1.0:
        raise ValueError(f"val_size + test_size must be < 1, got {val_size + test_size}")
    names = read_names()
    order = as_generator(random_state).permutation(len(names))
    n_val, n_test = round(val_size * len(names)), round(test_size * len(names))
    shuffled = [names[i] for i in order]
    test, val = shuffled[:n_test], shuffled[n_test:n_test + n_val]
    return NamesSplit(shuffled[n_test + n_val:], val, test, Vocabulary.of(names))


def contexts(
    names: Sequence[str], vocab: Vocabulary, block_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every (context, next character) pair of the names, in order.

    Returns ``X`` of shape (n, block_size) and ``Y`` of shape (n,), both int64, where n is the
    total of ``len(name) + 1`` (each character and the final boundary is predicted once). A
    context holds the ``block_size`` characters before the target, padded on the left with the
    boundary token; ``block_size=1`` gives the bigram pairs.
    """
    block_size = check_int("block_size", block_size)
    if isinstance(names, str):
        raise ValueError("names must be a sequence of names, got one string")
    rows: list[np.ndarray] = []
    for name in names:
        framed = np.concatenate([np.zeros(block_size, dtype=np.int64), vocab.encode(name),
                                 np.zeros(1, dtype=np.int64)])
        # window t is framed[t : t + block_size + 1]: block_size characters, then the target
        rows.append(np.lib.stride_tricks.sliding_window_view(framed, block_size + 1))
    if not rows:
        return (np.zeros((0, block_size), dtype=np.int64), np.zeros(0, dtype=np.int64))
    windows = np.concatenate(rows)
    return np.ascontiguousarray(windows[:, :-1]), np.ascontiguousarray(windows[:, -1])


def sequences(
    names: Sequence[str], vocab: Vocabulary, length: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Whole names as rows of inputs and next-character targets, for a sequence model.

    Returns ``X`` and ``Y`` of shape (n, length), int64. Row i of ``X`` is the boundary then the
    name's characters, padded with the boundary; row i of ``Y`` is the name's characters then
    the boundary, padded with :data:`IGNORE_INDEX`, so ``Y[i, t]`` is the character after
    ``X[i, :t + 1]``, and a loss that skips ``IGNORE_INDEX`` averages over the same
    ``len(name) + 1`` predictions per name as :func:`contexts`. A causal model never lets a
    real position read the padding, which comes after it. ``length`` defaults to the longest
    name plus one; a longer name is a ValueError.
    """
    if isinstance(names, str):
        raise ValueError("names must be a sequence of names, got one string")
    longest = max((len(name) for name in names), default=0) + 1
    length = longest if length is None else check_int("length", length)
    if length < longest:
        raise ValueError(f"length must be at least the longest name plus one ({longest}), "
                         f"got {length}")
    X = np.zeros((len(names), length), dtype=np.int64)
    Y = np.full((len(names), length), IGNORE_INDEX, dtype=np.int64)
    for i, name in enumerate(names):
        ix = vocab.encode(name)
        X[i, 1:len(ix) + 1] = ix
        Y[i, :len(ix)] = ix
        Y[i, len(ix)] = 0
    return X, Y
