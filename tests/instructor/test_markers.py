"""Solution regions: found by whole-line markers, replaced at their indentation."""

import pytest

from coursekit.instructor.markers import (
    MarkerError,
    code_placeholder,
    find_regions,
    solution_lines,
    strip_regions,
)


def test_a_region_inside_a_function_keeps_its_indentation():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n    ### END SOLUTION"
    regions = find_regions(source, where="nb, cell 1")
    assert solution_lines(source, regions) == ["    y = x + 1", "    return y"]
    stripped = strip_regions(source, regions, code_placeholder("01-f"))
    assert stripped == ('def f(x):\n    # YOUR CODE HERE\n'
                        '    raise NotImplementedError("01-f")')
    compile(stripped, "<student>", "exec")  # still valid Python


def test_several_regions_and_the_text_between_them_survive():
    source = ("a = 1\n### BEGIN SOLUTION\nb = 2\n### END SOLUTION\nc = 3\n"
              "  ### BEGIN SOLUTION\n  d = 4\n  ### END SOLUTION\n")
    regions = find_regions(source, where="nb, cell 1")
    assert len(regions) == 2
    assert strip_regions(source, regions, ["X"]) == "a = 1\nX\nc = 3\n  X\n"


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        ("### BEGIN SOLUTION\nx = 1", "line 1: '### BEGIN SOLUTION' without an '### END"),
        ("x = 1\n### END SOLUTION", "line 2: '### END SOLUTION' without a '### BEGIN"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n### END SOLUTION",
         "line 2: nested"),
        ("x = 1  ### BEGIN SOLUTION\n### END SOLUTION", "line 1: a solution marker must be"),
        ("### Begin Solution\nx = 1\n### END SOLUTION", "line 1: a solution marker must be"),
        ("## BEGIN SOLUTION\nx = 1\n## END SOLUTION", "line 1: a solution marker must be"),
    ],
    ids=["begin-without-end", "end-without-begin", "nested", "after-code", "typo", "two-hashes"],
)
def test_malformed_markers_are_rejected_naming_the_place(source, complaint):
    with pytest.raises(MarkerError, match="^nb.ipynb, cell 4 \\(id x\\), ") as error:
        find_regions(source, where="nb.ipynb, cell 4 (id x)")
    assert complaint in str(error.value)


def test_text_without_markers_has_no_regions():
    assert find_regions("print('solution')\n# the end", where="nb") == []
