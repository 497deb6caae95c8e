"""Execute lessons top to bottom, the one way committed outputs are (re)generated.

``python -m coursekit execute notebooks/01_*.ipynb`` runs each notebook in a fresh kernel of
the current environment, from the notebook's own folder, and writes the outputs back in place.
``make execute`` calls it with the same environment variables ``make test`` uses, so the stored
outputs are exactly what strict nbval will compare against.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat import NotebookNode
from traitlets.config import Config

#: Kernel of the environment running this module (ipykernel's native "python3" spec).
KERNEL_NAME = "python3"


class DirtyRun(RuntimeError):
    """A run that finished but stored an error or a warning (e.g. a figure that failed to draw)."""


@dataclass(frozen=True)
class Execution:
    """A notebook after a run, and how long its cells took (kernel start excluded)."""

    notebook: NotebookNode
    cell_seconds: float


def make_client(nb: NotebookNode, *, cwd: Path, timeout: int, sockets: Path) -> NotebookClient:
    """An nbclient client for ``nb`` on this environment's kernel, started in ``cwd``.

    The one place the course configures nbclient (kernel name, working folder, no timing
    metadata). The kernel talks to the client over Unix sockets in the folder ``sockets``
    (private to this user), not over loopback TCP, where any local process could listen to
    the kernel's output; ipykernel warns about that on every start otherwise.
    """
    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(sockets / "kernel")
    config.KernelManager.connection_file = str(sockets / "kernel.json")
    return NotebookClient(
        nb,
        config=config,
        timeout=timeout,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(cwd)}},
        record_timing=False,  # timestamps in metadata would churn every diff
    )


def execute(nb: NotebookNode, *, cwd: Path, timeout: int = 600) -> Execution:
    """Run every code cell of ``nb`` in order in a fresh kernel started in ``cwd``.

    Raises nbclient's ``CellExecutionError`` on the first cell that fails.
    """
    with tempfile.TemporaryDirectory(prefix="coursekit-kernel-") as sockets:
        client = make_client(nb, cwd=cwd, timeout=timeout, sockets=Path(sockets))
        with client.setup_kernel():
            start = time.perf_counter()
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
            seconds = time.perf_counter() - start
    _normalise_metadata(nb)
    return Execution(nb, seconds)


def problems(nb: NotebookNode) -> list[str]:
    """Error and stderr outputs stored in ``nb``: each makes strict nbval fail on replay.

    Some reach the notebook without failing the cell that made them: an inline figure that
    raises while being drawn, after its cell returned, or a warning.
    """
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                found.append(f"cell {cell.execution_count}: {out.ename}: {out.evalue}")
            elif out.get("name") == "stderr":
                found.append(f"cell {cell.execution_count} wrote to stderr: "
                             f"{out.text.strip()[:200]}")
    return found


def execute_file(path: Path, *, timeout: int = 600, write: bool = True) -> Execution:
    """Execute the notebook at ``path`` from its folder; write outputs back when ``write``.

    Raises :class:`DirtyRun`, writing nothing, if the run stored an error or stderr output.
    """
    nb = nbformat.read(path, as_version=4)
    result = execute(nb, cwd=path.resolve().parent, timeout=timeout)
    found = problems(result.notebook)
    if found:
        raise DirtyRun(f"{path}: not written, fix these at the source:\n  " + "\n  ".join(found))
    if write:
        nbformat.write(result.notebook, path)
    return result


def _normalise_metadata(nb: NotebookNode) -> None:
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": KERNEL_NAME,
    }
    for cell in nb.cells:
        cell.metadata.pop("execution", None)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``python -m coursekit execute``."""
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")


def run(args: argparse.Namespace) -> int:
    """Execute ``args.notebooks`` in turn; 0 when every one ran clean and was written."""
    for path in args.notebooks:
        if path.suffix != ".ipynb" or not path.is_file():
            print(f"error: not a notebook: {path}", file=sys.stderr)
            return 2
    failed = 0
    for path in args.notebooks:
        try:
            result = execute_file(path, timeout=args.timeout)
        except (DirtyRun, CellExecutionError) as exc:
            print(f"FAILED {path}\n{exc}", file=sys.stderr, flush=True)
            failed += 1
            continue
        print(f"{path}: {result.cell_seconds:.1f} s", flush=True)
    return 1 if failed else 0
