"""The shipped names, their splits, vocabulary and context windows."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from coursekit.names import (
    BOUNDARY,
    IGNORE_INDEX,
    Vocabulary,
    contexts,
    load_names,
    read_names,
    sequences,
)


def test_the_shipped_list():
    names = read_names()
    assert len(names) == 5163 == len(set(names))
    assert names == sorted(names)
    assert all(name.isascii() and name.isalpha() and name.islower() for name in names)


def test_splits_are_disjoint_seeded_and_complete():
    split = load_names(random_state=3)
    train, val, test = map(set, (split.train, split.val, split.test))
    assert not (train & val or train & test or val & test)
    assert train | val | test == set(read_names())
    assert (len(split.val), len(split.test)) == (516, 516)
    assert load_names(random_state=3) == split
    assert load_names(random_state=4).train != split.train
    assert split.vocab.chars == (BOUNDARY, *"abcdefghijklmnopqrstuvwxyz")
    assert split.vocab.size == 27


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"val_size": 0.6, "test_size": 0.5}, "must be < 1"),
    ({"val_size": -0.1}, "val_size"),
    ({"random_state": -1}, "non-negative"),
])
def test_bad_split_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_names(**kwargs)


def test_vocabulary_round_trip_and_errors():
    vocab = Vocabulary.of(["emma", "bo"])
    assert vocab.chars == (".", "a", "b", "e", "m", "o")
    assert_array_equal(vocab.encode("emma"), [3, 4, 4, 1])
    assert vocab.encode("emma").dtype == np.int64
    assert vocab.decode(vocab.encode(".bob.")) == ".bob."
    with pytest.raises(ValueError, match=r"\['z'\] are not in the vocabulary"):
        vocab.encode("zoe")
    with pytest.raises(ValueError, match=r"outside the vocabulary \[0, 6\)"):
        vocab.decode([6])
    with pytest.raises(ValueError, match="boundary"):
        Vocabulary(("a", "."))
    with pytest.raises(ValueError, match="boundary token"):
        Vocabulary.of(["a.b"])


def test_contexts_pad_with_the_boundary_and_end_with_it():
    vocab = Vocabulary.of(["emma", "bo"])
    X, Y = contexts(["emma", "bo"], vocab, block_size=3)
    assert X.shape == (8, 3) and Y.shape == (8,) and X.dtype == Y.dtype == np.int64
    assert [vocab.decode(x) + ">" + vocab.decode([y]) for x, y in zip(X, Y, strict=True)] == [
        "...>e", "..e>m", ".em>m", "emm>a", "mma>.", "...>b", "..b>o", ".bo>."]
    X1, Y1 = contexts(["bo"], vocab, block_size=1)
    assert_array_equal(X1[:, 0], vocab.encode(".bo"))
    assert_array_equal(Y1, vocab.encode("bo."))
    X0, Y0 = contexts([], vocab, block_size=2)
    assert X0.shape == (0, 2) and Y0.shape == (0,)
    with pytest.raises(ValueError, match="one string"):
        contexts("emma", vocab, block_size=2)
    with pytest.raises(ValueError, match="block_size"):
        contexts(["emma"], vocab, block_size=0)


def test_sequences_hold_the_same_predictions_as_the_contexts():
    vocab = Vocabulary.of(["emma", "bo"])
    X, Y = sequences(["emma", "bo"], vocab)
    assert X.shape == Y.shape == (2, 5) and X.dtype == Y.dtype == np.int64
    assert vocab.decode(X[0]) == ".emma" and vocab.decode(X[1]) == ".bo.."
    assert vocab.decode(Y[0]) == "emma." and vocab.decode(Y[1][:3]) == "bo."
    assert Y[1, 3] == Y[1, 4] == IGNORE_INDEX
    # position t of row i sees X[i, :t + 1] and predicts Y[i, t]: the contexts' pairs
    Xc, Yc = contexts(["emma", "bo"], vocab, block_size=5)
    from_sequences = [(X[i, :t + 1][X[i, :t + 1] > 0].tolist(), int(Y[i, t]))
                      for i in range(2) for t in range(5) if Y[i, t] != IGNORE_INDEX]
    from_contexts = [(x[x > 0].tolist(), int(y)) for x, y in zip(Xc, Yc, strict=True)]
    assert from_sequences == from_contexts
    assert sequences(["bo"], vocab, length=6)[0].shape == (1, 6)
    with pytest.raises(ValueError, match="at least the longest name plus one"):
        sequences(["emma"], vocab, length=4)
    with pytest.raises(ValueError, match="one string"):
        sequences("emma", vocab)
