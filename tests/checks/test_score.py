"""The score cell: every exercise of a lesson checked again with what the namespace holds now."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.checks import lesson03 as check
from coursekit.checks.score import SCORE_SEED, score_rows, scorer
from coursekit.exercise.spec import LESSON_SEED


def _dense_forward(x, w, b):
    return x @ w + b


def _relu_backward(x, grad_out):
    return grad_out * (x > 0)


def _relu_backward_times_input(x, grad_out):
    return grad_out * np.maximum(x, 0)


def _chatty_relu_backward(x, grad_out):
    print("computing the ReLU gradient")
    return grad_out * (x > 0)


POINTS = {"03-dense-forward": 1, "03-relu-backward": 1}


def test_the_score_seed_is_not_the_check_cells():
    assert SCORE_SEED != LESSON_SEED


def test_a_passing_exercise_earns_its_points_and_a_failing_one_nothing():
    rows = score_rows(check.EXERCISES, {"dense_forward": _dense_forward,
                                        "relu_backward": _relu_backward_times_input},
                      points=POINTS)
    assert [(row.exercise, row.passed, row.points) for row in rows] == [
        ("03-dense-forward", True, 1), ("03-relu-backward", False, 0)]
    assert "dx is dout times the input" in rows[1].message


def test_a_name_not_yet_defined_says_which_cell_to_run():
    rows = score_rows(check.EXERCISES, {"relu_backward": _relu_backward}, points=POINTS)
    assert not rows[0].passed
    assert rows[0].message == ("`dense_forward` is not defined: run the exercise's solution "
                               "cell")
    assert rows[1].passed


def test_a_stub_still_raising_is_reported_as_not_implemented():
    def stub(x, w, b):
        raise NotImplementedError

    rows = score_rows(check.EXERCISES, {"dense_forward": stub}, points={"03-dense-forward": 1})
    assert not rows[0].passed and "not implemented yet" in rows[0].message


def test_what_the_students_code_prints_is_not_in_the_table(capsys):
    rows = score_rows(check.EXERCISES, {"relu_backward": _chatty_relu_backward},
                      points={"03-relu-backward": 1})
    assert rows[0].passed
    assert capsys.readouterr().out == ""


def test_the_table_has_every_exercise_of_the_lesson_with_its_syllabus_points(capsys):
    check.score({"dense_forward": _dense_forward, "relu_backward": _relu_backward})
    shown = capsys.readouterr().out.splitlines()
    assert shown[0] == "your notebook, as it is now (03_layers_from_scratch.ipynb)"
    assert [line.split()[1] for line in shown[1:-1]] == list(check.EXERCISES)
    assert "  ✔ 03-dense-forward" in shown[1] and shown[1].endswith("1/1")
    assert shown[2].startswith("  ✘ 03-dense-backward") and " 0/3 " in shown[2]
    assert shown[-1] == "  total 2/11"


def test_without_a_syllabus_each_exercise_counts_one_point(tmp_path, capsys):
    score = scorer(check.EXERCISES, syllabus=tmp_path / "missing.toml")
    score({"dense_forward": _dense_forward})
    shown = capsys.readouterr().out.splitlines()
    assert shown[0] == "your notebook (no syllabus.toml: 1 point each) (lesson 03)"
    assert shown[-1] == "  total 1/6"


def test_the_namespace_must_be_a_mapping():
    with pytest.raises(TypeError, match=r"score\(globals\(\)\)"):
        check.score([_dense_forward])
