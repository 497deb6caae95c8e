"""syllabus.toml: its validation, its agreement with the notebooks, and the course map."""

import re
from pathlib import Path

import nbformat
import pytest

from coursekit.__main__ import main
from coursekit.instructor.syllabus import (
    Graded,
    SyllabusError,
    course_map,
    load_syllabus,
    sync_problems,
)
from tests.instructor import fake_lesson

ROOT = Path(__file__).resolve().parents[2]

LESSON = """
[[lessons]]
notebook = "{notebook}"
title = "A title"
runtime_seconds = 3
objectives = [ {{ text = "learn", by = ["{exercise}"] }} ]
exercises = [ {{ id = "{exercise}", points = {points} }} ]
"""


def write(tmp_path, text):
    path = tmp_path / "syllabus.toml"
    path.write_text(text, encoding="utf-8")
    return path


def lesson(notebook="01_a.ipynb", exercise="01-a", points="1"):
    return LESSON.format(notebook=notebook, exercise=exercise, points=points)


def test_the_course_syllabus_is_in_step_with_every_notebook():
    """Every notebook is listed and the reverse; exercises and points agree, in order."""
    syllabus = load_syllabus(ROOT / "syllabus.toml")
    assert sync_problems(syllabus, ROOT / "notebooks") == []
    assert main(["syllabus", "--syllabus", str(ROOT / "syllabus.toml"),
                 "--lessons", str(ROOT / "notebooks")]) == 0


def test_a_valid_syllabus_reads_into_lessons(tmp_path):
    syllabus = load_syllabus(write(tmp_path, lesson() + lesson("02_b.ipynb", "02-b", "3")))
    assert [item.notebook for item in syllabus.lessons] == ["01_a.ipynb", "02_b.ipynb"]
    assert syllabus.lessons[1].exercises == (Graded("02-b", 3),)
    assert syllabus.lessons[1].number == "02"
    assert syllabus.lesson_of_exercise("02-b") is syllabus.lessons[1]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (lesson().replace('title = "A title"\n', ""), "missing ['title']"),
        (lesson() + "colour = 'red'\n", "unknown ['colour']"),
        (lesson(notebook="1_a.ipynb"), "should look like '01_name.ipynb'"),
        (lesson("02_b.ipynb", "02-b") + lesson(), "file-name order"),
        (lesson() + lesson("01_b.ipynb", "01-b"), "two lessons numbered 01"),
        (lesson() + lesson("02_b.ipynb", "01-a"), "should start with its lesson's number"),
        (lesson() + lesson("02_b.ipynb", "02-a").replace("02-a", "01-a"), "start with"),
        (lesson(exercise="01_A"), "should look like '01-name'"),
        (lesson(points="0"), "points must be a positive integer"),
        (lesson(points="true"), "points must be a positive integer"),
        (lesson().replace("runtime_seconds = 3", "runtime_seconds = -1"), "runtime_seconds"),
        (re.sub(r"objectives = .*", "objectives = []", lesson()), "objectives"),
        (lesson().replace('{ text = "learn", by = ["01-a"] }', '"learn"'),
         'each objective is { text = "...", by = ['),
        (lesson().replace('by = ["01-a"]', 'by = ["01-b"]'),
         "names ['01-b'], not exercises of this lesson (['01-a'])"),
        (lesson().replace('by = ["01-a"]', 'by = "shown"'), 'or "demonstrated", got \'shown\''),
        (lesson().replace('by = ["01-a"]', "by = []"), "by must be a list of exercise ids"),
        (lesson().replace('text = "learn"', 'text = " "'), "text must be a non-empty string"),
        (lesson().replace('by = ["01-a"]', 'by = "demonstrated"'),
         "exercises ['01-a'] serve no objective"),
        (lesson() + lesson("02_b.ipynb", "02-b").replace("points = 1 }", "points = 1 }, "
                                                         '{ id = "02-b", points = 1 }'),
         "listed twice"),
        ("[[lesson]]\nnotebook = 'x'\n", "unknown top-level keys ['lesson']"),
        ("lessons = [", "syllabus.toml"),
    ],
)
def test_malformed_syllabi_are_rejected_with_the_reason(tmp_path, text, complaint):
    with pytest.raises(SyllabusError) as error:
        load_syllabus(write(tmp_path, text))
    assert complaint in str(error.value)


def test_objectives_name_their_exercises_or_say_demonstrated(tmp_path):
    text = lesson().replace('[ { text = "learn", by = ["01-a"] } ]',
                            '[ { text = "learn", by = ["01-a"] }, '
                            '{ text = "watch", by = "demonstrated" } ]')
    (goal, shown) = load_syllabus(write(tmp_path, text)).lessons[0].objectives
    assert (goal.text, goal.by, goal.demonstrated) == ("learn", ("01-a",), False)
    assert (shown.text, shown.by, shown.demonstrated) == ("watch", (), True)


def test_every_course_objective_names_an_exercise_or_says_demonstrated():
    """The course's own syllabus: load_syllabus enforces the rule; here, what it read."""
    for item in load_syllabus(ROOT / "syllabus.toml").lessons:
        ids = {exercise.id for exercise in item.exercises}
        assert all(set(goal.by) <= ids for goal in item.objectives), item.notebook
        assert ids == {name for goal in item.objectives for name in goal.by}, item.notebook


def test_disagreements_with_the_notebooks_are_all_reported(tmp_path):
    lessons, syllabus_path = fake_lesson.write_lesson(tmp_path)
    syllabus = load_syllabus(syllabus_path)
    assert sync_problems(syllabus, lessons) == []

    nbformat.write(fake_lesson.instructor_notebook(), lessons / "97_extra.ipynb")
    swapped = lesson("98_gone.ipynb", "98-gone") + syllabus_path.read_text().replace(
        '{ id = "99-double", points = 1 }, { id = "99-square", points = 2 }',
        '{ id = "99-square", points = 2 }, { id = "99-double", points = 5 }',
    )
    problems = sync_problems(load_syllabus(write(tmp_path, swapped)), lessons)
    assert problems[0] == f"97_extra.ipynb is in {lessons} but not in the syllabus"
    assert problems[1] == f"98_gone.ipynb is in the syllabus but not in {lessons}"
    assert problems[2].startswith("99_fake.ipynb: the notebook's exercises (id, points) are "
                                  "[('99-double', 1), ('99-square', 2)] but the syllabus lists "
                                  "[('99-square', 2), ('99-double', 5)]")
    assert len(problems) == 3


def test_the_command_reports_problems_and_prints_the_map(tmp_path, capsys):
    lessons, syllabus_path = fake_lesson.write_lesson(tmp_path)
    args = ["syllabus", "--syllabus", str(syllabus_path), "--lessons", str(lessons)]
    assert main(args) == 0
    assert main([*args, "--map"]) == 0
    assert "| 99 | [A fake lesson](notebooks/99_fake.ipynb) |" in capsys.readouterr().out
    (lessons / fake_lesson.LESSON).unlink()
    assert main(args) == 1
    assert "99_fake.ipynb is in the syllabus but not in" in capsys.readouterr().err


def test_the_course_map_lists_every_lesson_with_its_exercises(tmp_path):
    syllabus = load_syllabus(write(tmp_path, lesson() + lesson("02_b.ipynb", "02-b", "3")))
    text = course_map(syllabus)
    assert text.splitlines()[0] == "| # | Lesson | You will | Exercises (points) | Runtime |"
    assert "| 02 | [A title](notebooks/02_b.ipynb) | learn | `02-b` (3) | ~3 s |" in text
    assert text.endswith("2 lessons, 4 points in all.\n")


def test_select_lessons_by_number_name_or_all(tmp_path):
    from coursekit.instructor.syllabus import select_lessons

    for name in ("01_a.ipynb", "02_b.ipynb", "03_c.ipynb"):
        (tmp_path / name).write_text("{}", encoding="utf-8")
    assert [p.name for p in select_lessons(tmp_path, "all")] == ["01_a.ipynb", "02_b.ipynb",
                                                                 "03_c.ipynb"]
    assert [p.stem for p in select_lessons(tmp_path, "03, 01_a")] == ["01_a", "03_c"]
    assert [p.stem for p in select_lessons(tmp_path, "02_b.ipynb")] == ["02_b"]
    with pytest.raises(ValueError, match=r"no lesson matches \['07'\]"):
        select_lessons(tmp_path, "01,07")
