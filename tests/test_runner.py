"""coursekit.runner writes clean run-alls and refuses runs that stored errors or warnings."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from coursekit import runner


def _write(tmp_path, *sources):
    path = tmp_path / "lesson.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(s) for s in sources]), path)
    return path


def test_a_clean_run_is_written_with_counts_one_to_n(tmp_path):
    path = _write(tmp_path, "x = 6 * 7", "print(x)", "from pathlib import Path\nPath.cwd().name")
    result = runner.execute_file(path)
    nb = nbformat.read(path, as_version=4)
    assert [c.execution_count for c in nb.cells] == [1, 2, 3]
    assert nb.cells[1].outputs[0].text == "42\n"
    # The kernel starts in the notebook's own folder.
    assert nb.cells[2].outputs[0].data["text/plain"] == repr(tmp_path.name)
    assert nb.metadata.kernelspec.name == "python3"
    assert result.cell_seconds > 0


def test_a_run_that_wrote_to_stderr_is_refused_and_not_written(tmp_path):
    path = _write(tmp_path, "import warnings\nwarnings.warn('careful')")
    before = path.read_bytes()
    with pytest.raises(runner.DirtyRun, match="cell 1 wrote to stderr: .*careful"):
        runner.execute_file(path)
    assert path.read_bytes() == before


def test_an_error_output_that_did_not_fail_its_cell_is_refused(tmp_path):
    # An error displayed after the cell returned, as a figure failing to draw does.
    source = ("from IPython.core.interactiveshell import InteractiveShell\n"
              "try:\n    1 / 0\nexcept ZeroDivisionError:\n"
              "    InteractiveShell.instance().showtraceback()")
    path = _write(tmp_path, source)
    with pytest.raises(runner.DirtyRun, match="ZeroDivisionError"):
        runner.execute_file(path)


def test_python_m_coursekit_execute_runs_and_writes(tmp_path, capsys):
    from coursekit.__main__ import main

    path = _write(tmp_path, "print(6 * 7)")
    assert main(["execute", str(path)]) == 0
    assert nbformat.read(path, as_version=4).cells[0].outputs[0].text == "42\n"
    assert f"{path}: " in capsys.readouterr().out
    assert main(["execute", str(tmp_path / "missing.ipynb")]) == 2


def test_the_kernel_talks_over_private_unix_sockets_not_loopback_tcp(tmp_path, capfd):
    # Over TCP any local process could read the kernel's output, and ipykernel says so on
    # stderr at every start; nothing is left behind in the lesson's folder or elsewhere.
    path = _write(tmp_path, "from ipykernel.connect import get_connection_info\n"
                            "info = get_connection_info(unpack=True)\n"
                            "print(info['transport'], info['ip'].startswith('/'))")
    runner.execute_file(path)
    assert nbformat.read(path, as_version=4).cells[0].outputs[0].text == "ipc True\n"
    assert "TCP" not in capfd.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lesson.ipynb"]
