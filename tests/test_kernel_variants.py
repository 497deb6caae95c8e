"""Stored outputs and verdicts hold on other CPUs: ``tools/kernel_variants.py`` under test.

The slow test runs strict nbval over every lesson once per variant (another machine's kernels,
imitated here by environment variables), checks that the variant took effect inside each
lesson's kernel, and judges, on this process's default kernels, what every exercise's probe
returned in those kernels (a student's kernel and the grader's judge on two machines). The fast
tests prove the tool's own checks can fail: a variant that did not take effect, and a wrong or
missing probe result, are reported.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from coursekit.exercise.wire import encode

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _load_tool():
    spec = importlib.util.spec_from_file_location("kernel_variants",
                                                  ROOT / "tools" / "kernel_variants.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["kernel_variants"] = module
    spec.loader.exec_module(module)
    return module


tool = _load_tool()
VARIANTS = tool.variants()


def test_the_variants_cover_the_issue_20_configurations():
    env = {name: v.env for name, v in VARIANTS.items()}
    assert env["aten-default"] == {"ATEN_CPU_CAPABILITY": "default"}
    assert env["mkl-compatible"] == {"MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "SSE41"}
    assert env["numpy-baseline"]["OPENBLAS_CORETYPE"] == "Sandybridge"
    # every numpy dispatch target above the baseline is switched off, not only X86_V3
    assert set(env["numpy-baseline"]["NPY_DISABLE_CPU_FEATURES"].split()) == set(
        tool.numpy_dispatch_targets())
    assert env["all-lowered"] == {**env["aten-default"], **env["mkl-compatible"],
                                  **env["numpy-baseline"]}
    assert env["two-threads"]["OPENBLAS_NUM_THREADS"] == "2"


def _record(**overrides):
    record = {"pid": 1, "cwd": "/x", "aten": "DEFAULT",
              "numpy_dispatch": dict.fromkeys(tool.numpy_dispatch_targets(), False),
              "blas": [{"api": "openblas", "architecture": "Sandybridge", "threads": 1}]}
    return {**record, **overrides}


LIBRARY_LOWERED = {"mkl_cnr": "COMPATIBLE", "onednn_isa": "Intel SSE4.1"}


def test_a_variant_in_effect_raises_no_problem():
    assert tool.problems(VARIANTS["all-lowered"], [_record()], LIBRARY_LOWERED, [Path("a")]) == []


@pytest.mark.parametrize(("record", "library", "named"), [
    (_record(aten="AVX512"), LIBRARY_LOWERED, "CPU capability is AVX512"),
    (_record(blas=[{"api": "openblas", "architecture": "SkylakeX", "threads": 1}]),
     LIBRARY_LOWERED, "BLAS architecture SkylakeX"),
    (_record(numpy_dispatch={"X86_V3": True}), LIBRARY_LOWERED, "still dispatches to X86_V3"),
    (_record(), {"mkl_cnr": "OFF", "onednn_isa": "Intel SSE4.1"}, "CNR mode is OFF"),
    (_record(), {"mkl_cnr": "COMPATIBLE", "onednn_isa": "Intel AVX-512"}, "oneDNN's ISA"),
    (_record(blas=[]), LIBRARY_LOWERED, "found no BLAS"),
])
def test_a_variant_that_did_not_take_effect_is_named(record, library, named):
    found = tool.problems(VARIANTS["all-lowered"], [record], library, [Path("a")])
    assert any(named in line for line in found), found


def test_a_torch_lesson_whose_kernels_never_recorded_torch_is_named():
    lesson = ROOT / "notebooks" / "10_initialization_normalization.ipynb"
    record = _record()
    del record["aten"]
    found = tool.problems(VARIANTS["aten-default"], [record], LIBRARY_LOWERED, [lesson])
    assert any("PyTorch's CPU capability" in line for line in found), found


def test_a_kernel_without_a_record_is_named():
    found = tool.problems(VARIANTS["aten-default"], [], LIBRARY_LOWERED, [Path("a"), Path("b")])
    assert any("0 kernel records for 2 lessons" in line for line in found), found


def test_the_cross_machine_judge_refuses_wrong_and_missing_probe_data(tmp_path):
    lesson = ROOT / "notebooks" / "01_gradient_descent.ipynb"
    drawn = tool.write_inputs(tmp_path, [lesson])
    (exercise_id, seed), (exercise, inputs) = next(iter(drawn.items()))
    assert exercise_id == "01-mse-cost"

    def wrong_cost(theta, x, y):  # the sum of squares, not the mean
        return float(np.sum((theta * np.asarray(x) - np.asarray(y)) ** 2))

    out = tmp_path / "data"
    out.mkdir()
    text, npz = encode(exercise.probe(inputs, wrong_cost))
    (out / f"{exercise_id}--{seed}.json").write_text(text)
    (out / f"{exercise_id}--{seed}.npz").write_bytes(npz)
    judged, refused = tool.judge_probes(out, drawn)
    assert judged == 1
    assert any(line.startswith(f"{exercise_id} (seed {seed}): the lesson's own solution")
               for line in refused), refused
    assert sum("no probe data" in line for line in refused) == len(drawn) - 1


@pytest.mark.slow
@pytest.mark.xdist_group("kernel-variants")
@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_lesson_and_verdict_holds_under_the_variant(name):
    lines: list[str] = []
    outcome = tool.run_variant(VARIANTS[name], LESSONS, echo=lines.append)
    report = "\n".join(lines)
    assert outcome.nbval_passed, report
    assert outcome.not_in_effect == [], report
    assert outcome.refused == [], report
    exercises = sum(len(tool._exercises(lesson)) for lesson in LESSONS)
    assert outcome.judged == exercises * len(tool.PROBE_SEEDS), report


def test_the_tool_compares_with_the_flags_of_make_nbval():
    makefile = (ROOT / "Makefile").read_text()
    block = makefile[makefile.index("NBVAL_FLAGS :="):].split("\n\n")[0]
    make_flags = block.replace("NBVAL_FLAGS :=", "").replace("\\", " ").split()
    tool_flags = [flag.replace(str(ROOT) + "/", "") for flag in tool.NBVAL_FLAGS]
    assert tool_flags == make_flags
