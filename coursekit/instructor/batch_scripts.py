"""Scripts that grade a class as a batch scheduler's array: Slurm and Kubernetes.

Each array task runs ``coursekit grade --shard $INDEX/N --run RUN ...`` with the index the
scheduler gives it (``$SLURM_ARRAY_TASK_ID``, ``$JOB_COMPLETION_INDEX``); a task that dies is
simply run again (what it finished is kept), and ``coursekit merge RUN`` writes the class
report once all N have finished. The line that grades is marked ``# coursekit: grade`` (Slurm)
so a test can run it as the scheduler would.
"""

from __future__ import annotations

import hashlib
import json
import math
import shlex
from collections.abc import Sequence
from pathlib import Path


def _check(shards: int, parallel: int) -> None:
    if shards < 1 or parallel < 1:
        raise ValueError(f"--shards and --parallel must be at least 1, got {shards} and "
                         f"{parallel}")


def grade_command(python: str, index_variable: str, shards: int, run: Path,
                  grade_args: Sequence[str]) -> str:
    """The shell command one array task runs (``index_variable`` holds its index)."""
    return (f"{shlex.quote(python)} -m coursekit grade --shard \"${{{index_variable}}}/{shards}\" "
            f"--run {shlex.quote(str(run))} {shlex.join(grade_args)}")


def merge_command(python: str, run: Path, grade_args: Sequence[str]) -> str:
    """The shell command that merges the shards (the grading options without submissions)."""
    options = list(grade_args)
    if "--" in options:
        options = options[: options.index("--")]
    return f"{shlex.quote(python)} -m coursekit merge {shlex.quote(str(run))} {shlex.join(options)}"


def slurm_script(shards: int, parallel: int, run: Path, grade_args: Sequence[str], *,
                 course: Path, python: str) -> str:
    """An ``sbatch`` script: an array of ``shards`` tasks, at most ``parallel`` at once."""
    _check(shards, parallel)
    jobs = _option(grade_args, "--jobs", "1")
    merge = f"cd {shlex.quote(str(course))} && {merge_command(python, run, grade_args)}"
    return "\n".join([
        "#!/bin/bash",
        "#SBATCH --job-name=coursekit-grade",
        f"#SBATCH --array=0-{shards - 1}%{parallel}",
        f"#SBATCH --cpus-per-task={jobs}",
        f"#SBATCH --mem={_memory_gib(grade_args)}G",
        "#SBATCH --output=coursekit-grade-%A_%a.out",
        "# Grades the class in shards: each array task grades the submissions of its shard",
        f"# into {run} (on storage every node sees). A task run again keeps what it finished.",
        "# Submit it, then the merge once every task has succeeded:",
        "#   job=$(sbatch --parsable grade.sbatch)",
        "#   sbatch --dependency=afterok:$job --wrap " + shlex.quote(merge),
        "set -euo pipefail",
        f"cd {shlex.quote(str(course))}",
        grade_command(python, "SLURM_ARRAY_TASK_ID", shards, run, grade_args)
        + "  # coursekit: grade",
        "",
    ])


def k8s_job(shards: int, parallel: int, run: Path, grade_args: Sequence[str], *, course: Path,
            python: str, image: str, claim: str, mount: Path) -> str:
    """A Kubernetes Indexed Job (YAML): ``shards`` completions, ``parallel`` pods at once,
    each grading the shard ``$JOB_COMPLETION_INDEX`` into ``run`` on the claim ``claim``.

    bubblewrap in a pod needs user namespaces: a cluster that forbids them must let the pod
    create them (for example ``securityContext.seccompProfile: Unconfined`` and no AppArmor
    profile that denies ``unshare``), which the instructor's cluster policy decides."""
    _check(shards, parallel)
    command = grade_command(python, "JOB_COMPLETION_INDEX", shards, run, grade_args)
    jobs = _option(grade_args, "--jobs", "1")
    name = "coursekit-grade-" + hashlib.sha256(str(run).encode()).hexdigest()[:8]
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "completionMode": "Indexed",
            "completions": shards,
            "parallelism": parallel,
            "backoffLimit": 3 * shards,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{
                    "name": "grade",
                    "image": image,
                    "workingDir": str(course),
                    "command": ["bash", "-c", f"set -euo pipefail; {command}"],
                    "resources": {"requests": {"cpu": jobs,
                                               "memory": f"{_memory_gib(grade_args)}Gi"}},
                    # bubblewrap makes a user namespace for each submission, which the
                    # runtime's default seccomp profile forbids
                    "securityContext": {"seccompProfile": {"type": "Unconfined"}},
                    "volumeMounts": [{"name": "class", "mountPath": str(mount)}],
                }],
                "volumes": [{"name": "class", "persistentVolumeClaim": {"claimName": claim}}],
            }},
        },
    }
    header = ("# Grades the class as a Kubernetes Indexed Job: kubectl apply -f job.yaml\n"
              "# The pods run without the default seccomp profile (bubblewrap needs user\n"
              "# namespaces); the submissions run inside bubblewrap's sandbox, as on a laptop.\n"
              "# Once the job has completed, merge where the claim is mounted (a pod of the same\n"
              f"# image): cd {shlex.quote(str(course))} && "
              f"{merge_command(python, run, grade_args)}\n")
    return header + _yaml(manifest) + "\n"


def _memory_gib(grade_args: Sequence[str]) -> int:
    """Memory for one array task: --memory GiB for each of its --jobs submissions, and one
    for the grader itself."""
    jobs, memory = _option(grade_args, "--jobs", "1"), _option(grade_args, "--memory", "2")
    return math.ceil(int(jobs) * float(memory)) + 1


def _option(args: Sequence[str], name: str, default: str) -> str:
    items = list(args)
    return items[items.index(name) + 1] if name in items[:-1] else default


def _yaml(value: object, indent: int = 0) -> str:
    """Block-style YAML of dicts, lists and scalars (scalars as JSON, which YAML reads)."""
    pad = " " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{key}:\n{_yaml(item, indent + 2)}")
            else:
                lines.append(f"{pad}{key}: {json.dumps(item)}")
        return "\n".join(lines)
    if isinstance(value, list):
        lines = []
        for item in value:
            if isinstance(item, dict) and item:
                body = _yaml(item, indent + 2)
                lines.append(f"{pad}- {body[indent + 2:]}")
            else:
                lines.append(f"{pad}- {json.dumps(item)}")
        return "\n".join(lines)
    return pad + json.dumps(value)
