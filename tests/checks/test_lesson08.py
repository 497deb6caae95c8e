"""Lesson 08 checks pass the reference and name the mistake in realistic wrong versions."""

import numpy as np
import pytest
import torch

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson08 as check
from coursekit.exercise.wire import round_trip
from tests.checks.wire import assert_judged_alike_on_fresh_inputs

# ---- 08-copy-weights ----


def test_copy_layer_passes_the_reference(capsys):
    check.copy_layer(check.reference_copy_layer)
    assert capsys.readouterr().out.startswith("✔ 08-copy-weights")


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


COPY_VALID = [_copy_into_data, _copy_by_load_state_dict, _copy_by_slice_assignment]


@pytest.mark.parametrize("valid", COPY_VALID, ids=["data", "load-state-dict", "slices"])
def test_copy_layer_accepts_valid_versions(valid, capsys):
    check.copy_layer(valid)
    assert "✔ 08-copy-weights" in capsys.readouterr().out


def test_copy_layer_refuses_swapped_tensors():
    """Accepted before probe + judge; refused since: the lesson's model lives on the GPU when
    there is one, and a CPU tensor swapped into it breaks the cell after the check."""
    def copy_layer(dense, linear):
        linear.weight.data = torch.tensor(dense.params["W"].T)
        linear.bias.data = torch.tensor(dense.params["b"])

    with pytest.raises(ExerciseFailed, match=r"swapped \(`.data = ...`\), not copied into"):
        check.copy_layer(copy_layer)


def _untransposed_reshaped(dense, linear):
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(dense.params["W"]).reshape(linear.weight.shape))
        linear.bias.copy_(torch.from_numpy(dense.params["b"]))


def _untransposed(dense, linear):
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(dense.params["W"]))
        linear.bias.copy_(torch.from_numpy(dense.params["b"]))


def _no_bias(dense, linear):
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(dense.params["W"].T))


def _shared_memory(dense, linear):
    linear.weight.data = torch.from_numpy(dense.params["W"].T)
    linear.bias.data = torch.from_numpy(dense.params["b"])


def _plain_assignment(dense, linear):
    linear.weight = torch.tensor(dense.params["W"].T)
    linear.bias = torch.tensor(dense.params["b"])


def _float32_copy(dense, linear):
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(dense.params["W"].T, dtype=torch.float32))
        linear.bias.copy_(torch.tensor(dense.params["b"], dtype=torch.float32))


def _float32_data(dense, linear):
    linear.weight.data = torch.tensor(dense.params["W"].T, dtype=torch.float32)
    linear.bias.data = torch.tensor(dense.params["b"], dtype=torch.float32)


def _without_no_grad(dense, linear):
    linear.weight.copy_(torch.from_numpy(dense.params["W"].T))
    linear.bias.copy_(torch.from_numpy(dense.params["b"]))


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_float32_copy, "the values were rounded to float32 on the way; copy in float64"),
        (_float32_data, "not float64: copy in float64"),
        (_without_no_grad, r"refused an in-place change of a tensor that requires grad: wrap "
         r"it in `with torch.no_grad\(\):`"),
        (_untransposed_reshaped, r"weight is W untransposed \(or reshaped\)"),
        (_untransposed, "transpose W"),
        (_no_bias, "bias was not copied"),
        (_shared_memory, "share memory with the NumPy arrays"),
        (_plain_assignment, "copy into the existing parameter"),
    ],
)
def test_copy_layer_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.copy_layer(wrong)


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


# ---- 08-confusion ----


def test_confusion_passes_the_reference(capsys):
    check.confusion_matrix(check.reference_confusion_matrix)
    assert "✔ 08-confusion" in capsys.readouterr().out


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


CONFUSION_VALID = [_confusion_loop, _confusion_bincount, _confusion_by_comparison]


@pytest.mark.parametrize("valid", CONFUSION_VALID, ids=["loop", "bincount", "one-hot"])
def test_confusion_accepts_valid_versions(valid, capsys):
    check.confusion_matrix(valid)
    assert "✔ 08-confusion" in capsys.readouterr().out


# A list of lists was accepted before probe + judge; the heatmap cell after the check needs an
# int ndarray (counts.sum(), np.diag, fmt="d"), so it is now refused, as are float counts.
def _list_of_lists(y_true, y_pred, n_classes):
    return check.reference_confusion_matrix(y_true, y_pred, n_classes).tolist()


def _float_counts(y_true, y_pred, n_classes):
    counts = np.zeros((n_classes, n_classes))
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def _sized_by_present_labels(y_true, y_pred, n_classes):
    k = len(np.unique(np.concatenate([y_true, y_pred])))
    counts = np.zeros((k, k), dtype=int)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_list_of_lists, r"expected an array of shape \(3, 3\), got a list of length 3: "
         r"return a NumPy array"),
        (_float_counts, r"expected a NumPy array of integers, got an array of shape \(3, 3\) "
         r"of float64"),
        (_sized_by_present_labels, r"for 5 classes your function raised IndexError \(a label "
         r"past the end of the matrix\): take the number of classes from n_classes"),
    ],
)
def test_confusion_refuses_what_later_cells_cannot_use(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.confusion_matrix(wrong)


def _from_present_classes(y_true, y_pred, n_classes):
    k = len(np.unique(np.concatenate([y_true, y_pred])))
    counts = np.zeros((k, k), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        counts[t % k, p % k] += 1
    return counts


def _fancy_index_assign(y_true, y_pred, n_classes):
    counts = np.zeros((n_classes, n_classes), dtype=int)
    counts[y_true, y_pred] += 1  # repeated pairs count once
    return counts


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda t, p, k: check.reference_confusion_matrix(p, t, k), "transposed"),
        (_from_present_classes, "not from the labels that happen to occur"),
        (_fancy_index_assign, r"`counts\[y_true, y_pred\] \+= 1` adds 1 only once per "
         r"repeated \(true, predicted\) pair; use np.add.at"),
        (lambda t, p, k: None, "expected an array of shape"),
    ],
)
def test_confusion_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.confusion_matrix(wrong)


# ---- probe + judge: plain data, fresh inputs, hostile data ----

# ---- 08-misclassified ----


def _misclassified_loop(y_true, y_pred):
    return np.array([i for i, (t, p) in enumerate(zip(y_true, y_pred, strict=True)) if t != p])


def _misclassified_nonzero(y_true, y_pred):
    return np.nonzero(np.not_equal(y_true, y_pred))[0].astype(np.int32)


def _show_misclassified(misclassified):
    """The lesson's cell after the check, on a small stand-in: index images and labels with the
    result, print the positions, and build the grid's titles."""
    rng = np.random.default_rng(3)
    images = rng.uniform(0, 16, size=(40, 64))
    y_true = rng.integers(0, 10, 40)
    y_pred = np.where(rng.uniform(size=40) < 0.2, (y_true + 1) % 10, y_true)
    wrong = misclassified(y_true, y_pred)
    assert len(wrong) == int((y_true != y_pred).sum())
    shown = images[wrong].reshape(-1, 8, 8)
    titles = [f"true {y_true[i]}, read {y_pred[i]}" for i in wrong]
    return shown, titles, wrong.tolist()


def _misclassified_where(y_true, y_pred):
    return np.where(y_true != y_pred)[0]


MISCLASSIFIED_VALID = [_misclassified_loop, _misclassified_nonzero, _misclassified_where]


@pytest.mark.parametrize("valid", [check.reference_misclassified, *MISCLASSIFIED_VALID])
def test_misclassified_accepts_valid_versions_and_they_run_the_later_cell(valid, capsys):
    check.misclassified(valid)
    assert "✔ 08-misclassified" in capsys.readouterr().out
    shown, titles, positions = _show_misclassified(valid)
    assert shown.shape == (len(titles), 8, 8)
    assert positions == _show_misclassified(check.reference_misclassified)[2]


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda t, p: np.where(t != p), r"tuple holding one array.*take its \[0\]"),
        (lambda t, p: t != p, r"boolean mask"),
        (lambda t, p: np.argwhere(t != p), r"np\.argwhere gives one row per hit"),
        (lambda t, p: np.flatnonzero(t == p), r"correctly classified points"),
        (lambda t, p: p[t != p], r"labels of the misclassified points"),
        (lambda t, p: t[t != p], r"labels of the misclassified points"),
        (lambda t, p: list(np.flatnonzero(t != p)), r"return a NumPy array"),
        (lambda t, p: np.flatnonzero(t != p).astype(float), r"expected integer indices"),
        (lambda t, p: np.flatnonzero(t != p)[::-1], r"in increasing order"),
        (lambda t, p: torch.from_numpy(np.flatnonzero(t != p)), r"expected a NumPy array"),
        (lambda t, p: np.flatnonzero(t != p) + 1, r"expected indices \[1, 5, 7\]"),
        (lambda t, p: int((t != p).sum()), r"got a number"),
    ],
)
def test_misclassified_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.misclassified(wrong)


_STUDENT = {"08-copy-weights": check.reference_copy_layer,
            "08-confusion": check.reference_confusion_matrix,
            "08-misclassified": check.reference_misclassified}
_WRONG = {"08-copy-weights": _no_bias, "08-confusion": _fancy_index_assign,
          "08-misclassified": lambda t, p: np.flatnonzero(t == p)}


@pytest.mark.parametrize("exercise_id", sorted(check.EXERCISES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_probe_data_is_plain_and_judged_alike_on_fresh_inputs(exercise_id, seed):
    assert_judged_alike_on_fresh_inputs(check.EXERCISES[exercise_id], _STUDENT[exercise_id],
                                        _WRONG[exercise_id], seed)


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
    data = round_trip(exercise.probe(inputs, _STUDENT[exercise_id]))
    for bad in _hostile(data):
        ok, message = exercise.verdict(inputs, bad)
        assert not ok, (bad, message)


# ---- every exercise's valid versions, for tests/checks/test_valid_versions.py ----

VALID_VERSIONS: dict[str, list[object]] = {
    "08-copy-weights": COPY_VALID,
    "08-confusion": CONFUSION_VALID,
    "08-misclassified": MISCLASSIFIED_VALID,
}


# ---- accepted once, then a later cell of the lesson failed: refused now ----
# Cells 871962ea and l08-misclassified-grid use digits.y_test and the predictions again after
# the call; labels changed in place index past the end of the matrix there.


def _confusion_bincount_in_place(y_true, y_pred, n_classes):
    y_true *= n_classes  # the flat cell index, built in the caller's array
    y_true += y_pred
    return np.bincount(y_true, minlength=n_classes**2).reshape(n_classes, n_classes)


def _misclassified_by_difference(y_true, y_pred):
    y_true -= y_pred  # nonzero where the labels differ
    return np.flatnonzero(y_true)


@pytest.mark.parametrize(("exercise_id", "wrong"),
                         [("08-confusion", _confusion_bincount_in_place),
                          ("08-misclassified", _misclassified_by_difference)])
def test_labels_changed_in_place_are_refused(exercise_id, wrong):
    with pytest.raises(ExerciseFailed, match=r"changed `y_true` in place.*later cells use it"):
        check.EXERCISES[exercise_id].check(wrong)


# ---- an independent review's answers (accepted, or named wrongly, before) ----


def _transposes_dense_in_place(dense, linear):  # rewrites the Dense layer the lesson reuses
    dense.params["W"] = dense.params["W"].T
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(dense.params["W"]))
        linear.bias.copy_(torch.from_numpy(dense.params["b"]))


def _requires_grad_off(dense, linear):  # and never back on: training the Linear fails later
    linear.weight.requires_grad_(False)
    linear.bias.requires_grad_(False)
    linear.weight.copy_(torch.from_numpy(dense.params["W"].T))
    linear.bias.copy_(torch.from_numpy(dense.params["b"]))


def _returns_new_linear(dense, linear):  # the Linear passed in is left untouched
    new = torch.nn.Linear(*dense.params["W"].shape, dtype=torch.float64)
    with torch.no_grad():
        new.weight.copy_(torch.from_numpy(dense.params["W"].T))
        new.bias.copy_(torch.from_numpy(dense.params["b"]))
    return new


def _new_parameters(dense, linear):
    linear.weight = torch.nn.Parameter(torch.tensor(dense.params["W"].T))
    linear.bias = torch.nn.Parameter(torch.tensor(dense.params["b"]))


def _confusion_set_to_one(y_true, y_pred, n_classes):
    counts = np.zeros((n_classes, n_classes), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        counts[t, p] = 1
    return counts


def _confusion_alias(y_true, y_pred, n_classes):
    index = y_true  # not a copy
    index *= n_classes  # rewrites the caller's y_true
    index += y_pred
    return np.bincount(index, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _misclassified_alias(y_true, y_pred):
    diff = y_true  # not a copy
    diff -= y_pred  # rewrites the caller's y_true
    return np.flatnonzero(diff)


REVIEW_MISTAKES = [
    (check.COPY_WEIGHTS, _transposes_dense_in_place, r"changed the Dense layer's own W"),
    (check.COPY_WEIGHTS, _requires_grad_off, r"no longer require grad \(requires_grad_\(False\)\)"),
    (check.COPY_WEIGHTS, _returns_new_linear, r"you returned a new layer and left the Linear you "
                                              r"were given untouched: change the Linear you "
                                              r"were given, in place"),
    (check.COPY_WEIGHTS, _new_parameters, r"replaced \(`linear.weight = nn.Parameter\(...\)`\)"),
    (check.CONFUSION, _confusion_set_to_one, r"add 1 \(counts\[t, p\] \+= 1\), don't set it to 1"),
    (check.CONFUSION, _confusion_alias, "changed `y_true` in place"),
    (check.MISCLASSIFIED, _misclassified_alias, "changed `y_true` in place"),
    (check.MISCLASSIFIED, lambda t, p: np.where(t != p, 1, 0), r"got a 0/1 array.*return the "
                                                              r"positions.*np.flatnonzero"),
]


@pytest.mark.parametrize(("exercise", "wrong", "message"), REVIEW_MISTAKES)
def test_the_reviews_answers_are_named(exercise, wrong, message):
    for seed in (None, 1, 2):
        with pytest.raises(ExerciseFailed, match=message):
            exercise.check(wrong, **({} if seed is None else {"seed": seed}))
