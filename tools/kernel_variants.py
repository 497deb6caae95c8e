"""Run strict nbval over the lessons with another machine's CPU kernels: ``make nbval-variants``.

    python tools/kernel_variants.py [--variant NAME ...] [LESSON ...]

A stored output is what the machine that ran ``make execute`` printed. Another machine picks
other kernels (PyTorch's SIMD level, MKL's and oneDNN's code paths, OpenBLAS's core type,
numpy's SIMD dispatch) and may round differently, so a figure that hangs on the last bit of a
long float32 run prints something else there. This machine can imitate others by lowering those
paths with environment variables; each variant below is one such imitation, and nbval must
pass under every one of them, comparing every output exactly as ``make test`` does.

A variant that did not take effect would pass without testing anything, so each run checks it:
every lesson's kernel records, from inside the kernel (an IPython start-up file in a private
IPYTHONDIR, writing after each cell once numpy is loaded), PyTorch's CPU capability,
threadpoolctl's BLAS architecture and thread count, and numpy's SIMD dispatch targets; a
separate process with the same environment reports MKL's conditional-numerical-reproducibility
mode and oneDNN's ISA from their own verbose logs. The run fails when any of them is not what
the variant asks for, or when a lesson's kernel wrote no record.

Grading spread over machines judges a probe's data on another machine than the student's
kernel, so each run also draws every exercise's grading inputs here (``PROBE_SEEDS``), has each
lesson's kernel run the probes with the lesson's own solutions after its score cell, and judges
that data in this process, on the default kernels: a correct answer refused fails the run.

Exit status 0 when every variant passed nbval, took effect, and had no correct answer refused.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NBVAL_FLAGS = ["--nbval", "--nbval-current-env",
               "--nbval-sanitize-with", str(ROOT / "notebooks" / "nbval_sanitize.cfg"),
               "--nbval-cell-timeout=300", "--nbval-kernel-startup-timeout=180"]

# Written into a private IPYTHONDIR's start-up folder. It imports nothing the lesson has not
# (only numpy once the lesson has, then torch and threadpoolctl if they are loaded) before the
# score cell, and prints nothing, so the lesson's outputs are untouched.
RECORDER = '''\
import json as _json, os as _os, sys as _sys

def _coursekit_record(*_args):
    if "numpy" not in _sys.modules:
        return
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    record = {"pid": _os.getpid(), "cwd": _os.getcwd(),
              "numpy_dispatch": {name: bool(__cpu_features__.get(name))
                                 for name in __cpu_dispatch__}}
    if "torch" in _sys.modules:
        record["aten"] = _sys.modules["torch"].backends.cpu.get_cpu_capability()
    try:
        import threadpoolctl
        record["blas"] = [{"api": info.get("internal_api"), "architecture":
                           info.get("architecture"), "threads": info.get("num_threads")}
                          for info in threadpoolctl.threadpool_info()
                          if info.get("user_api") == "blas"]
    except ImportError:
        record["blas"] = None
    path = _os.path.join(_os.environ["COURSEKIT_KERNEL_RECORDS"], f"{_os.getpid()}.json")
    with open(path, "w") as out:
        _json.dump(record, out)


def _coursekit_probe(result):
    # After the score cell: every exercise's probe on the grader's inputs, with the lesson's
    # own solutions, its data written for a judge in another process (another machine).
    if result.info.raw_cell.strip() != "check.score(globals())":
        return
    import contextlib, io, pathlib, traceback, warnings
    folder = pathlib.Path(_os.environ["COURSEKIT_PROBE_INPUTS"])
    out = pathlib.Path(_os.environ["COURSEKIT_PROBE_DATA"])
    namespace = get_ipython().user_ns
    try:
        from coursekit.exercise.wire import decode, encode
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(
                io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for exercise in namespace["check"].EXERCISES.values():
                student = [namespace[name] for name in exercise.names]
                for inputs_file in sorted(folder.glob(f"{exercise.id}--*.json")):
                    inputs = decode(inputs_file.read_text(),
                                    inputs_file.with_suffix(".npz").read_bytes())
                    text, npz = encode(exercise.probe(inputs, *student))
                    (out / inputs_file.name).write_text(text)
                    (out / inputs_file.name).with_suffix(".npz").write_bytes(npz)
    except Exception:
        (out / f"error-{_os.getpid()}.txt").write_text(traceback.format_exc())

get_ipython().events.register("post_run_cell", _coursekit_record)
get_ipython().events.register("post_run_cell", _coursekit_probe)
'''

# Run in a separate process with the variant's environment: MKL and oneDNN say which code path
# they took only in their verbose logs, which must not reach a lesson's outputs.
LIBRARY_PROBE = '''\
import torch
a = torch.ones(64, 64, dtype=torch.float64)
(a @ a).sum().item()
x, w = torch.ones(4, 8, 16, 16), torch.ones(8, 8, 3, 3)
with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
    torch.nn.functional.conv2d(x, w).sum().item()
'''


def numpy_dispatch_targets() -> list[str]:
    """numpy's SIMD dispatch targets here (what ``NPY_DISABLE_CPU_FEATURES`` can lower)."""
    out = subprocess.run(
        [sys.executable, "-c", "from numpy._core._multiarray_umath import __cpu_dispatch__ as d;"
         "print(' '.join(d))"], capture_output=True, text=True, check=True,
        env={k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"})
    return out.stdout.split()


@dataclass(frozen=True)
class Variant:
    """One imitation of another machine: the environment it sets and what must follow from it."""

    name: str
    about: str
    env: Mapping[str, str]
    aten: str | None = None  # torch.backends.cpu.get_cpu_capability()
    blas_architecture: str | None = None  # threadpoolctl's OpenBLAS architecture
    blas_threads: int | None = None
    numpy_off: tuple[str, ...] = ()  # dispatch targets that must be disabled
    mkl_cnr: str | None = None  # MKL_VERBOSE's "CNR:..." field
    onednn_isa: str | None = None  # a fragment of oneDNN's "isa:..." line


def variants() -> dict[str, Variant]:
    """The variants ``make nbval-variants`` runs, in order (issue 20's a-d, AVX2, threads)."""
    dispatch = numpy_dispatch_targets()
    above_avx2 = tuple(t for t in dispatch if t not in ("X86_V2", "X86_V3"))
    all_lowered = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE",
                   "ONEDNN_MAX_CPU_ISA": "SSE41", "OPENBLAS_CORETYPE": "Sandybridge",
                   "NPY_DISABLE_CPU_FEATURES": " ".join(dispatch)}
    found = [
        Variant("aten-default", "PyTorch's ATen kernels without SIMD",
                {"ATEN_CPU_CAPABILITY": "default"}, aten="DEFAULT"),
        Variant("mkl-compatible", "MKL's compatible path and oneDNN limited to SSE4.1",
                {"MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "SSE41"},
                mkl_cnr="COMPATIBLE", onednn_isa="SSE4.1"),
        Variant("numpy-baseline", "OpenBLAS as on a Sandy Bridge, numpy's dispatch at baseline",
                {"OPENBLAS_CORETYPE": "Sandybridge",
                 "NPY_DISABLE_CPU_FEATURES": " ".join(dispatch)},
                blas_architecture="Sandybridge", numpy_off=tuple(dispatch)),
        Variant("all-lowered", "all of the above at once", all_lowered, aten="DEFAULT",
                blas_architecture="Sandybridge", numpy_off=tuple(dispatch),
                mkl_cnr="COMPATIBLE", onednn_isa="SSE4.1"),
        Variant("avx2-machine", "an AVX2 machine without AVX-512 (most laptops, AMD EPYC)",
                {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                 "OPENBLAS_CORETYPE": "Haswell", "NPY_DISABLE_CPU_FEATURES": " ".join(above_avx2)},
                aten="AVX2", blas_architecture="Haswell", numpy_off=above_avx2, mkl_cnr="AVX2",
                onednn_isa="AVX2"),
        Variant("two-threads", "two threads for BLAS and OpenMP, as `jupyter lab` without make",
                {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"},
                blas_threads=2),
    ]
    return {v.name: v for v in found}


def library_report(env: Mapping[str, str]) -> dict[str, str | None]:
    """MKL's CNR mode and oneDNN's ISA under ``env``, read from their verbose logs."""
    out = subprocess.run([sys.executable, "-c", LIBRARY_PROBE], capture_output=True, text=True,
                         env={**env, "MKL_VERBOSE": "1"}, timeout=300, check=True)
    text = out.stdout + out.stderr
    cnr = re.search(r"CNR:(\S+)", text)
    isa = re.search(r"onednn_verbose,.*,isa:([^\n]+)", text)
    return {"mkl_cnr": cnr.group(1) if cnr else None, "onednn_isa": isa.group(1) if isa else None}


def problems(variant: Variant, records: list[dict], library: Mapping[str, str | None],
             lessons: list[Path]) -> list[str]:
    """Every way ``variant`` did not take effect, as sentences; empty when it did."""
    found = []
    if len(records) < len(lessons):
        found.append(f"{len(records)} kernel records for {len(lessons)} lessons: a kernel "
                     "never loaded numpy, or the start-up recorder did not run")
    for record in records:
        where = f"kernel {record['pid']}"
        if variant.aten and "aten" in record and record["aten"] != variant.aten:
            found.append(f"{where}: PyTorch's CPU capability is {record['aten']}, "
                         f"not {variant.aten}")
        for blas in record.get("blas") or []:
            if variant.blas_architecture and blas["architecture"] != variant.blas_architecture:
                found.append(f"{where}: BLAS architecture {blas['architecture']}, "
                             f"not {variant.blas_architecture}")
            if variant.blas_threads and blas["threads"] != variant.blas_threads:
                found.append(f"{where}: BLAS runs {blas['threads']} threads, "
                             f"not {variant.blas_threads}")
        if (variant.blas_architecture or variant.blas_threads) and not record.get("blas"):
            found.append(f"{where}: threadpoolctl found no BLAS to check")
        still_on = [t for t in variant.numpy_off if record["numpy_dispatch"].get(t)]
        if still_on:
            found.append(f"{where}: numpy still dispatches to {', '.join(still_on)}")
    uses_torch = any("import torch" in lesson.read_text() for lesson in lessons
                     if lesson.exists())
    if variant.aten and uses_torch and not any("aten" in r for r in records):
        found.append("no kernel recorded PyTorch's CPU capability, though a lesson imports torch")
    if variant.mkl_cnr and library["mkl_cnr"] != variant.mkl_cnr:
        found.append(f"MKL's CNR mode is {library['mkl_cnr']}, not {variant.mkl_cnr}")
    if variant.onednn_isa and variant.onednn_isa not in (library["onednn_isa"] or ""):
        found.append(f"oneDNN's ISA is {library['onednn_isa']}, not {variant.onednn_isa}")
    return found


#: Grading seeds of the cross-machine check: inputs the lesson's check and score cells never use.
PROBE_SEEDS = (101, 202)


@dataclass
class Outcome:
    """What one variant's run found."""

    nbval_passed: bool
    not_in_effect: list[str]  # the ways the variant did not take effect
    judged: int  # probe results judged here, on this process's (default) kernels
    refused: list[str]  # correct answers, probed under the variant, the judge refused

    @property
    def passed(self) -> bool:
        return self.nbval_passed and not self.not_in_effect and not self.refused and self.judged > 0


def _exercises(lesson: Path) -> dict[str, Any]:
    module = importlib.import_module(f"coursekit.checks.lesson{lesson.name[:2]}")
    return dict(module.EXERCISES)


def write_inputs(folder: Path, lessons: list[Path]) -> dict[tuple[str, int], tuple[Any, Any]]:
    """Draw every exercise's grading inputs here, as the grader does, and write them to
    ``folder`` for the kernels; ``{(exercise id, seed): (exercise, inputs)}``."""
    from coursekit.exercise.wire import encode, round_trip

    drawn = {}
    for lesson in lessons:
        for exercise in _exercises(lesson).values():
            for seed in PROBE_SEEDS:
                inputs = round_trip(exercise.inputs(np.random.default_rng(seed)))
                text, npz = encode(inputs)
                (folder / f"{exercise.id}--{seed}.json").write_text(text)
                (folder / f"{exercise.id}--{seed}.npz").write_bytes(npz)
                drawn[(exercise.id, seed)] = (exercise, inputs)
    return drawn


def judge_probes(folder: Path, drawn: Mapping[tuple[str, int], tuple[Any, Any]]
                 ) -> tuple[int, list[str]]:
    """Judge, here, what the kernels' probes returned; (how many judged, what was refused)."""
    from coursekit.exercise.wire import decode

    refused = [f"the probe hook failed in a kernel:\n{p.read_text()}"
               for p in sorted(folder.glob("error-*.txt"))]
    judged = 0
    for (exercise_id, seed), (exercise, inputs) in drawn.items():
        stem = folder / f"{exercise_id}--{seed}"
        if not stem.with_suffix(".json").exists():
            refused.append(f"{exercise_id} (seed {seed}): no probe data; the lesson's kernel "
                           "never reached its score cell")
            continue
        data = decode(stem.with_suffix(".json").read_text(), stem.with_suffix(".npz").read_bytes())
        passed, message = exercise.verdict(inputs, data)
        judged += 1
        if not passed:
            refused.append(f"{exercise_id} (seed {seed}): the lesson's own solution, run on "
                           f"these kernels, was refused by a judge on the default ones: {message}")
    return judged, refused


def run_variant(variant: Variant, lessons: list[Path], workers: int = 2,
                echo: Callable[[str], None] = print) -> Outcome:
    """Strict nbval over ``lessons`` under ``variant``, then every exercise's probe data from
    those kernels judged here."""
    with tempfile.TemporaryDirectory(prefix=f"variant-{variant.name}-") as tmp:
        folders = {name: Path(tmp) / name for name in ("ipython", "records", "inputs", "data")}
        startup = folders["ipython"] / "profile_default" / "startup"
        startup.mkdir(parents=True)
        for name in ("records", "inputs", "data"):
            folders[name].mkdir()
        (startup / "00-coursekit-record.py").write_text(RECORDER)
        drawn = write_inputs(folders["inputs"], lessons)
        env = {**os.environ, **variant.env, "IPYTHONDIR": str(folders["ipython"]),
               "COURSEKIT_KERNEL_RECORDS": str(folders["records"]),
               "COURSEKIT_PROBE_INPUTS": str(folders["inputs"]),
               "COURSEKIT_PROBE_DATA": str(folders["data"])}
        if "NPY_DISABLE_CPU_FEATURES" not in variant.env:
            env.pop("NPY_DISABLE_CPU_FEATURES", None)
        command = [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider",
                   "-q", f"--rootdir={ROOT}", *NBVAL_FLAGS, *map(str, lessons)]
        if workers > 1:
            command[3:3] = ["-n", str(workers), "--dist", "loadfile"]
        started = time.monotonic()
        nbval = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        took = time.monotonic() - started
        tail = nbval.stdout.strip().splitlines()[-1:] or ["(no output)"]
        echo(f"{variant.name}: nbval {'passed' if nbval.returncode == 0 else 'FAILED'} in "
             f"{took:.0f} s ({tail[0]})")
        if nbval.returncode != 0:
            echo(_failures(nbval.stdout))
        records = [json.loads(p.read_text()) for p in sorted(folders["records"].glob("*.json"))]
        trouble = problems(variant, records, library_report(env), lessons)
        for line in trouble:
            echo(f"{variant.name}: did not take effect: {line}")
        judged, refused = judge_probes(folders["data"], drawn)
        echo(f"{variant.name}: {judged} probe results judged on the default kernels, "
             f"{len(refused)} refused")
        for line in refused:
            echo(f"{variant.name}: {line}")
        return Outcome(nbval.returncode == 0, trouble, judged, refused)


def _failures(stdout: str) -> str:
    """The FAILED lines and nbval's output diffs, without pytest's long tracebacks."""
    keep = [line for line in stdout.splitlines()
            if line.startswith(("FAILED", "Notebook cell execution failed", "Cell "))
            or line.lstrip().startswith(("+", "-", "Expected", "Got", "output"))]
    return "\n".join(keep[-80:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*", type=Path,
                        help="lessons to run (default: every notebooks/NN_*.ipynb)")
    parser.add_argument("--variant", action="append", dest="names", metavar="NAME",
                        help="a variant to run (repeatable; default: all of them)")
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    parser.add_argument("--workers", type=int, default=2, help="nbval workers (default 2)")
    args = parser.parse_args(argv)
    table = variants()
    if args.list:
        for v in table.values():
            settings = " ".join(f"{k}={v2!r}" for k, v2 in v.env.items())
            print(f"{v.name:<15} {v.about}\n{'':<15} {settings}")
        return 0
    unknown = sorted(set(args.names or []) - set(table))
    if unknown:
        parser.error(f"unknown variant {', '.join(unknown)}; known: {', '.join(table)}")
    lessons = args.lessons or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    failed = []
    for name in args.names or list(table):
        if not run_variant(table[name], lessons, workers=args.workers).passed:
            failed.append(name)
    print(f"kernel variants: {'all passed' if not failed else 'failed: ' + ', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
