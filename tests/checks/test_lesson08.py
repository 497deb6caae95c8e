"""Lesson 08 checks: the references pass, valid versions written differently pass (and run the
lesson's later cells), and what no declared mistake covers is named: copies that raise, that
swap, share or replace the parameters, change their dtype or the Dense layer; answers of the
wrong type or dtype; labels changed in place. Declared mistakes are tested in
test_mistakes.py."""

import numpy as np
import pytest
import torch

from coursekit.checks import lesson08 as check
from coursekit.exercise import ExerciseFailed
from coursekit.exercise.spec import LESSON_SEED
from coursekit.exercise.wire import round_trip
from tests.checks.wire import assert_judged_alike_on_fresh_inputs, assert_same_verdict_over_the_wire

REFERENCES = {"08-copy-weights": check.reference_copy_layer,
              "08-confusion": check.reference_confusion_matrix,
              "08-misclassified": check.reference_misclassified}


def test_copy_layer_works_with_a_freshly_imported_scratch(capsys):
    """The grader re-imports coursekit; the student's function must not depend on classes."""
    import importlib
    import sys

    saved = {n: m for n, m in sys.modules.items() if n.startswith("coursekit")}
    try:
        for name in saved:
            del sys.modules[name]
        fresh = importlib.import_module("coursekit.checks.lesson08")
        fresh.copy_layer(check.reference_copy_layer)
    finally:
        sys.modules.update(saved)
    assert "✔ 08-copy-weights" in capsys.readouterr().out


# ---- valid versions written differently ----


def _copy_into_data(dense, linear):
    linear.weight.data.copy_(torch.tensor(dense.params["W"]).T)
    linear.bias.data.copy_(torch.tensor(dense.params["b"]))


def _copy_by_load_state_dict(dense, linear):
    linear.load_state_dict({"weight": torch.tensor(dense.params["W"].T),
                            "bias": torch.tensor(dense.params["b"])})


def _copy_by_slice_assignment(dense, linear):  # made on the Linear's device (a GPU or not)
    with torch.no_grad():
        linear.weight[:] = torch.as_tensor(dense.params["W"], device=linear.weight.device).T
        linear.bias[:] = torch.as_tensor(dense.params["b"], device=linear.bias.device)


def _confusion_loop(y_true, y_pred, n_classes):
    counts = np.zeros((n_classes, n_classes), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        counts[t, p] += 1
    return counts


def _confusion_bincount(y_true, y_pred, n_classes):
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def _confusion_by_comparison(y_true, y_pred, n_classes):
    classes = np.arange(n_classes)
    is_true = y_true[:, None] == classes  # (n, n_classes) one-hot rows
    is_pred = y_pred[:, None] == classes
    return is_true.T.astype(np.int64) @ is_pred.astype(np.int64)


def _misclassified_loop(y_true, y_pred):
    wrong = [i for i, (t, p) in enumerate(zip(y_true, y_pred, strict=True)) if t != p]
    return np.array(wrong, dtype=int)  # an empty list alone would make a float64 array


def test_an_index_list_without_dtype_is_refused_where_nothing_is_misclassified():
    def without_dtype(y_true, y_pred):
        return np.array([i for i, (t, p) in enumerate(zip(y_true, y_pred, strict=True))
                         if t != p])

    with pytest.raises(ExerciseFailed, match="0 misclassified.*expected an integer array, got "
                                             "one of dtype float64"):
        check.misclassified(without_dtype)


def _misclassified_nonzero(y_true, y_pred):
    return np.nonzero(np.not_equal(y_true, y_pred))[0].astype(np.int32)


def _misclassified_where(y_true, y_pred):
    return np.where(y_true != y_pred)[0]


#: Every exercise of lesson 08 -> valid versions a student could write in its solution cell.
VALID_VERSIONS: dict[str, list[object]] = {
    "08-copy-weights": [_copy_into_data, _copy_by_load_state_dict, _copy_by_slice_assignment],
    "08-confusion": [_confusion_loop, _confusion_bincount, _confusion_by_comparison],
    "08-misclassified": [_misclassified_loop, _misclassified_nonzero, _misclassified_where],
}


@pytest.mark.parametrize("valid", [check.reference_misclassified,
                                   *VALID_VERSIONS["08-misclassified"]])
def test_valid_misclassified_run_the_later_cell(valid):
    """The lesson's cell after the check, on a small stand-in: index images and labels with the
    result, print the positions, and build the grid's titles."""
    rng = np.random.default_rng(3)
    images = rng.uniform(0, 16, size=(40, 64))
    y_true = rng.integers(0, 10, 40)
    y_pred = np.where(rng.uniform(size=40) < 0.2, (y_true + 1) % 10, y_true)
    wrong = valid(y_true, y_pred)
    assert len(wrong) == int((y_true != y_pred).sum())
    assert images[wrong].reshape(-1, 8, 8).shape == (len(wrong), 8, 8)
    assert [f"true {y_true[i]}, read {y_pred[i]}" for i in wrong]
    assert wrong.tolist() == np.flatnonzero(y_true != y_pred).tolist()


# ---- what no declared mistake covers ----


def _swapped(dense, linear):  # the lesson's model lives on the GPU when there is one
    linear.weight.data = torch.tensor(dense.params["W"].T)
    linear.bias.data = torch.tensor(dense.params["b"])


def _untransposed(dense, linear):
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(dense.params["W"]))
        linear.bias.copy_(torch.from_numpy(dense.params["b"]))


def _shared_memory(dense, linear):
    linear.weight.data = torch.from_numpy(dense.params["W"].T)
    linear.bias.data = torch.from_numpy(dense.params["b"])


def _plain_assignment(dense, linear):
    linear.weight = torch.tensor(dense.params["W"].T)
    linear.bias = torch.tensor(dense.params["b"])


def _float32_data(dense, linear):
    linear.weight.data = torch.tensor(dense.params["W"].T, dtype=torch.float32)
    linear.bias.data = torch.tensor(dense.params["b"], dtype=torch.float32)


def _without_no_grad(dense, linear):
    linear.weight.copy_(torch.from_numpy(dense.params["W"].T))
    linear.bias.copy_(torch.from_numpy(dense.params["b"]))


def _transposes_dense_in_place(dense, linear):  # rewrites the Dense layer the lesson reuses
    dense.params["W"] = dense.params["W"].T
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(dense.params["W"]))
        linear.bias.copy_(torch.from_numpy(dense.params["b"]))


def _requires_grad_off(dense, linear):  # and never back on: training the Linear fails later
    linear.weight.requires_grad_(False)
    linear.bias.requires_grad_(False)
    _without_no_grad(dense, linear)


def _returns_new_linear(dense, linear):  # the Linear passed in is left untouched
    new = torch.nn.Linear(*dense.params["W"].shape, dtype=torch.float64)
    check.reference_copy_layer(dense, new)
    return new


def _new_parameters(dense, linear):
    linear.weight = torch.nn.Parameter(torch.tensor(dense.params["W"].T))
    linear.bias = torch.nn.Parameter(torch.tensor(dense.params["b"]))


def _bias_shared(dense, linear):  # the weight copied, the bias over the Dense layer's array
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(dense.params["W"].T))
    linear.bias.data = torch.from_numpy(dense.params["b"])


def _shared_through_set(dense, linear):
    """Shares memory without swapping `.data` (set_ keeps the parameter object): the red
    team's trick, with the storage addresses the probe compares patched to agree."""
    with torch.no_grad():
        linear.weight.set_(torch.from_numpy(dense.params["W"].T.copy()))
        dense.params["W"] = linear.weight.detach().numpy().T  # the Dense layer now views it
        linear.bias.set_(torch.from_numpy(dense.params["b"]))
    torch.Tensor.data_ptr = lambda self: 0


def _parameters_rewrapped(dense, linear):
    """Copied right, then wrapped in new Parameters over the same storage: the addresses are
    unchanged, but an optimizer made before holds the old parameters, which get no gradient."""
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(dense.params["W"].T))
        linear.bias.copy_(torch.from_numpy(dense.params["b"]))
    linear.weight = torch.nn.Parameter(linear.weight.detach())
    linear.bias = torch.nn.Parameter(linear.bias.detach())


def test_parameters_replaced_over_the_same_storage_are_seen_by_a_real_step():
    for seed in (LESSON_SEED, 1, 2):
        with pytest.raises(ExerciseFailed, match=r"an optimizer made before the copy no longer "
                                                 r"moves the Linear"):
            check.copy_layer.check(_parameters_rewrapped, seed=seed)


@pytest.mark.parametrize("wrong", [_shared_memory, _bias_shared, _shared_through_set])
def test_shared_memory_shows_in_values_whatever_the_notebook_patches(wrong, monkeypatch):
    """A copy that shares memory is found by what the layers compute after one of them
    changes, not by comparing storage in the kernel: patching data_ptr hides nothing."""
    monkeypatch.setattr(torch.Tensor, "data_ptr", torch.Tensor.data_ptr)  # restored after
    for seed in (LESSON_SEED, 1, 2):
        with pytest.raises(ExerciseFailed, match=r"share memory with the NumPy arrays"):
            check.copy_layer.check(wrong, seed=seed)


# A list of lists was accepted before probe + judge; the heatmap cell after the check needs an
# int ndarray (counts.sum(), np.diag, fmt="d"), so it is now refused, as are float counts.
def _float_counts(y_true, y_pred, n_classes):
    counts = np.zeros((n_classes, n_classes))
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def _sized_by_present_labels(y_true, y_pred, n_classes):
    k = len(np.unique(np.concatenate([y_true, y_pred])))
    counts = np.zeros((k, k), dtype=int)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def _confusion_set_to_one(y_true, y_pred, n_classes):  # the declared `+= 1` mistake, looped
    counts = np.zeros((n_classes, n_classes), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        counts[t, p] = 1
    return counts


# Cells 871962ea and l08-misclassified-grid use digits.y_test and the predictions again after
# the call; labels changed in place index past the end of the matrix there.
def _confusion_bincount_in_place(y_true, y_pred, n_classes):
    y_true *= n_classes  # the flat cell index, built in the caller's array
    y_true += y_pred
    return np.bincount(y_true, minlength=n_classes**2).reshape(n_classes, n_classes)


def _confusion_alias(y_true, y_pred, n_classes):
    index = y_true  # not a copy
    index *= n_classes  # rewrites the caller's y_true
    index += y_pred
    return np.bincount(index, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _misclassified_by_difference(y_true, y_pred):
    y_true -= y_pred  # nonzero where the labels differ
    return np.flatnonzero(y_true)


def _misclassified_alias(y_true, y_pred):
    diff = y_true  # not a copy
    diff -= y_pred  # rewrites the caller's y_true
    return np.flatnonzero(diff)


_IN_PLACE = r"changed `y_true` in place.*later cells use it"

UNDECLARED = [
    (check.copy_layer, _swapped, r"swapped \(`.data = ...`\), not copied into"),
    (check.copy_layer, _float32_data, "not float64: copy in float64"),
    (check.copy_layer, _without_no_grad, r"refused an in-place change of a tensor that requires "
                                         r"grad: wrap it in `with torch.no_grad\(\):`"),
    (check.copy_layer, _untransposed, "shapes do not fit .*transpose W"),
    (check.copy_layer, _shared_memory, "share memory with the NumPy arrays"),
    (check.copy_layer, _plain_assignment, "copy into the existing parameter"),
    (check.copy_layer, _transposes_dense_in_place, r"changed the Dense layer's own W"),
    (check.copy_layer, _requires_grad_off, r"no longer require grad \(requires_grad_\(False\)\)"),
    (check.copy_layer, _returns_new_linear, r"you returned a new layer and left the Linear you "
                                            r"were given untouched: change the Linear you were "
                                            r"given, in place"),
    (check.copy_layer, _new_parameters, r"replaced \(`linear.weight = nn.Parameter\(...\)`\)"),
    (check.confusion_matrix, lambda t, p, k: check.reference_confusion_matrix(t, p, k).tolist(),
     r"expected an array of shape \(3, 3\), got a list of length 3: return a NumPy array"),
    (check.confusion_matrix, _float_counts, r"expected a NumPy array of integers, got an array "
                                            r"of shape \(3, 3\) of float64"),
    (check.confusion_matrix, _sized_by_present_labels,
     r"for 5 classes: your function raised IndexError \(a label past the end of the matrix\): "
     r"take the number of classes from n_classes"),
    (check.confusion_matrix, _confusion_set_to_one, r"add 1 \(counts\[t, p\] \+= 1\), don't set "
                                                    "it to 1"),
    (check.confusion_matrix, lambda t, p, k: None, "expected an array of shape"),
    (check.confusion_matrix, _confusion_bincount_in_place, _IN_PLACE),
    (check.confusion_matrix, _confusion_alias, _IN_PLACE),
    (check.misclassified, lambda t, p: t != p, r"boolean mask"),
    (check.misclassified, lambda t, p: list(np.flatnonzero(t != p)), r"return a NumPy array"),
    (check.misclassified, lambda t, p: np.flatnonzero(t != p).astype(float),
     r"expected integer indices"),
    (check.misclassified, lambda t, p: torch.from_numpy(np.flatnonzero(t != p)),
     r"expected a NumPy array"),
    (check.misclassified, lambda t, p: np.flatnonzero(t != p) + 1, r"expected indices \[1, 5, 7\]"),
    (check.misclassified, lambda t, p: int((t != p).sum()), r"got a number"),
    (check.misclassified, _misclassified_by_difference, _IN_PLACE),
    (check.misclassified, _misclassified_alias, _IN_PLACE),
]


@pytest.mark.parametrize(("exercise", "wrong", "message"), UNDECLARED)
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_what_no_declared_mistake_covers_is_named(exercise, wrong, message, seed):
    with pytest.raises(ExerciseFailed, match=message):
        exercise.check(wrong, **({} if seed is None else {"seed": seed}))


# ---- the wire, and data no probe of ours gives ----


@pytest.mark.parametrize(("exercise", "student"),
                         [(check.EXERCISES[key], fn) for key, fn in REFERENCES.items()] +
                         [(exercise, wrong) for exercise, wrong, _ in UNDECLARED[::3]])
def test_probe_data_survives_the_wire(exercise, student):
    assert_same_verdict_over_the_wire(exercise, student)


@pytest.mark.parametrize("exercise_id", sorted(check.EXERCISES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_judged_alike_on_fresh_inputs(exercise_id, seed):
    exercise = check.EXERCISES[exercise_id]
    assert_judged_alike_on_fresh_inputs(exercise, REFERENCES[exercise_id],
                                        exercise.mistakes[0].wrong, seed)


def _hostile(data):
    """Malformed variants of a probe's data: wrong lengths, wrong kinds, missing keys."""
    yield from (None, 1.0, "✔ passed", [], {}, {"kind": "none"}, data[:-1], data + data[-1:])
    yield [{"kind": "float", "type": "float", "value": 0.5}] * len(data)
    yield [{"kind": "list", "type": "list", "length": 0, "items": []}] * len(data)
    if "call" not in data[0]:  # described matrices: of floats, or not a NumPy array
        yield [{**case, "dtype": "float64"} for case in data]
        yield [{**case, "type": "Tensor"} for case in data]
    else:
        for key in data[0]:
            yield [{k: v for k, v in case.items() if k != key} for case in data]
            yield [{**case, key: None} for case in data]
            yield [{**case, key: {"kind": "none"}} for case in data]


@pytest.mark.parametrize("exercise_id", sorted(check.EXERCISES))
def test_a_judge_fails_malformed_data(exercise_id):
    exercise = check.EXERCISES[exercise_id]
    inputs = round_trip(exercise.inputs(np.random.default_rng(5)))
    data = round_trip(exercise.probe(inputs, REFERENCES[exercise_id]))
    assert exercise.verdict(inputs, data)[0]
    for bad in _hostile(data):
        ok, message = exercise.verdict(inputs, bad)
        assert not ok, (bad, message)
