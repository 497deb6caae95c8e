"""The leak scan: nothing of a solution or a hidden test anywhere in a student edition."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from nbformat import NotebookNode

from coursekit.instructor.cells import cell_source, role_by_metadata
from coursekit.instructor.markers import find_regions, solution_lines


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON document, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of every object in a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def secret_lines(instructor: NotebookNode) -> tuple[set[str], str]:
    """Stripped lines of solution regions and hidden tests that the rest of the lesson does
    not also show (a line like ``return out`` may legitimately appear in the teaching text),
    and the text of the rest of the lesson."""
    secret: set[str] = set()
    shared: set[str] = set()
    for index, cell in enumerate(instructor.cells):
        lines = cell_source(cell).splitlines()
        tagged = role_by_metadata(cell)
        if tagged and tagged[1] == "hidden":
            secret.update(line.strip() for line in lines)
            continue
        regions = find_regions(cell_source(cell), where=f"cell {index + 1}")
        secret.update(line.strip() for line in solution_lines(cell_source(cell), regions))
        # the marker lines themselves belong to neither side
        inside = {n for region in regions for n in range(region.begin, region.end + 1)}
        shared.update(line.strip() for number, line in enumerate(lines) if number not in inside)
    return secret - shared - {""}, "\n".join(sorted(shared))


def assert_no_leaks(instructor: NotebookNode, edition: NotebookNode) -> None:
    """Fail if any field of ``edition``'s JSON holds a secret line, an output, an execution
    count or a hidden cell."""
    document = json.loads(json.dumps(edition))
    secrets, shared = secret_lines(instructor)
    # A secret long enough to be telling must not hide inside a longer line either, unless
    # the lesson's own text quotes it ("leave out `c.grad.zero_()` and ...").
    telling = [secret for secret in secrets if len(secret) >= 12 and secret not in shared]
    assert secrets, "the scan needs at least one solution line to look for"
    for text in strings(document):
        lines = {line.strip() for line in text.splitlines()}
        leaked = secrets & lines
        assert not leaked, f"solution or hidden-test lines in the student edition: {leaked}"
        long_leaks = [secret for secret in telling if secret in text]
        assert not long_leaks, f"solution text inside a student edition field: {long_leaks}"
    for key, value in _walk(document):
        assert key != "output_type", "an output survived in the student edition"
        if key == "outputs":
            assert value == [], "outputs survived in the student edition"
        if key == "execution_count":
            assert value is None, "an execution count survived in the student edition"
    for cell in document["cells"]:
        tagged = role_by_metadata(cell)
        assert not (tagged and tagged[1] == "hidden"), "a hidden-test cell survived"
