"""Grading, phase 2, inside the sandbox: run a submission's cells and its probes.

``python -m coursekit.instructor.cell_runner SPEC`` reads the run's spec (JSON, written by
the grader), runs each step in one IPython shell, in order:

- a ``code`` step is one of the submission's code cells (an error is shown, then the run goes
  on, as in a notebook);
- a ``probe`` step imports the exercise's probe, evaluates the instructor's argument
  expressions (``cost``) in the submission's namespace, calls the probe on the inputs the
  grader drew for this run, and writes what it returned (plain data) to
  ``probes/<exercise>.json`` and ``.npz``.

Nothing here is trusted: the submission's code runs in this process and may change anything
in it. The grader only reads the probe files as plain data and judges them itself. Each step
is announced on the status file descriptor so that the grader can stop a run whose cell overruns.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any


class CellTimeout(BaseException):
    """Raised inside a cell that ran past its limit."""


def _alarm(signum: int, frame: Any) -> None:
    raise CellTimeout("the cell ran longer than its time limit")


def _announce(fd: int | None, text: str) -> None:
    if fd is None:
        return
    try:
        os.write(fd, (text + "\n").encode())
    except OSError:
        pass


def _probe(step: dict[str, Any], namespace: dict[str, Any], folder: Path) -> None:
    import importlib

    from coursekit.exercise.wire import decode

    inputs_dir = folder / "inputs"
    inputs = decode((inputs_dir / f"{step['exercise']}.json").read_text(encoding="utf-8"),
                    (inputs_dir / f"{step['exercise']}.npz").read_bytes())
    module = importlib.import_module(step["module"])
    probe = getattr(module, step["function"])
    try:  # the instructor's argument expressions, evaluated in the submission's namespace
        args = [eval(expression, namespace) for expression in step["args"]]  # noqa: S307
        kwargs = {name: eval(expression, namespace) for name, expression in step["kwargs"]}
    except Exception as exc:  # a name the submission never defined
        from coursekit.exercise.probing import raised

        _write(folder, step["exercise"], raised(exc))
        return
    _write(folder, step["exercise"], probe(inputs, *args, **kwargs))


def _write(folder: Path, exercise: str, result: Any) -> None:
    """Write a probe's result (or why it is not plain data) as ``probes/<exercise>.*``."""
    from coursekit.exercise.wire import PlainDataError, encode

    try:
        text, arrays = encode(result)
    except PlainDataError as exc:
        text, arrays = encode({"kind": "raised", "type": "PlainDataError",
                               "message": str(exc), "frame": "", "stub": False,
                               "below_raise": False})
    out = folder / "probes"
    out.mkdir(exist_ok=True)
    (out / f"{exercise}.npz").write_bytes(arrays)
    (out / f"{exercise}.json").write_text(text, encoding="utf-8")


def drop_to(ids: str) -> None:
    """Become ``uid:gid`` for good (no supplementary groups); stop unless it took."""
    uid, gid = (int(part) for part in ids.split(":"))
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if 0 in (os.getuid(), os.geteuid(), *os.getresuid(), os.getgid(), *os.getresgid()):
        raise SystemExit("cell_runner: could not drop root; nothing was run")


def main(argv: list[str]) -> int:
    status_fd: int | None = None
    while argv[:1] in (["--status-fd"], ["--drop-to"]):
        if argv[0] == "--drop-to":  # first, before anything of the submission's is read
            drop_to(argv[1])
        else:
            status_fd = int(argv[1])
        argv = argv[2:]
    spec_path = argv[0]
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    folder = Path(spec_path).resolve().parent
    seconds = float(spec["cell_timeout"])
    os.chdir(folder)
    sys.path.insert(0, str(folder))

    from IPython.core.interactiveshell import InteractiveShell

    class Shell(InteractiveShell):
        """No display here: figures are made with Agg and never drawn."""

        def enable_gui(self, gui: Any = None) -> None:
            return None

        def enable_matplotlib(self, gui: Any = None) -> tuple[str, str]:
            import matplotlib

            matplotlib.use("Agg")
            return "agg", "agg"

    shell = Shell.instance(colors="nocolor")

    def close_figures(result: Any = None) -> None:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            pyplot.close("all")

    shell.events.register("post_run_cell", close_figures)
    signal.signal(signal.SIGALRM, _alarm)
    for index, step in enumerate(spec["steps"]):
        _announce(status_fd, f"start {index}")
        # One alarm at the limit, then one a second while the cell keeps catching them.
        signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
        try:
            if step["kind"] == "code":
                shell.run_cell(step["source"], store_history=True)
            else:
                _probe(step, shell.user_ns, folder)
        except CellTimeout:
            print(f"[grader] step {index} ran longer than {seconds:g} s", file=sys.stderr)
            if step["kind"] == "probe":
                _write(folder, step["exercise"], {
                    "kind": "raised", "type": "CellTimeout", "stub": False,
                    "below_raise": False, "frame": "",
                    "message": f"the check ran longer than {seconds:g} s (an endless loop?)"})
        except Exception as exc:  # a probe step that could not run (bad argument names)
            print(f"[grader] step {index}: {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        _announce(status_fd, f"done {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
