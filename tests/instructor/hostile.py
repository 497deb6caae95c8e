"""Hostile submissions of the fake lesson: one technique each, none of them solves anything.

Each technique is code put in the submission's first solution cell (in place of the stub).
The classes, after the grading issue: patching what the grader relies on inside the kernel,
forging a pass, values that lie, copying the reference, reaching outside the kernel,
exhausting resources, and injecting text into the reports.
"""

from __future__ import annotations

import os

from nbformat import NotebookNode
from nbformat.v4 import new_code_cell

from tests.instructor.fake_lesson import edited

#: Put in the command line of every process a technique leaves behind, to look for it after.
MARKER = "coursekit-hostile-marker"
#: Seconds a detached process waits before it strikes.
DETACHED_DELAY = 3

# The answers to the fixed cases of the fake lesson; a forger knows them from the lesson.
_GUESS = "{0.0: 0.0, 1.0: 2.0, 2.5: 5.0, -3.0: -6.0}"
_GUESSES = "GUESS = " + _GUESS + "\n"

TECHNIQUES: dict[str, str] = {
    # --- patching what the grader uses, inside the kernel
    "replaces_the_probe_module": f"""
import sys, types
fake = types.ModuleType("fakeprobes.lesson99")
fake.each_x = lambda inputs, fn: [{{"kind": "float", "type": "float",
                                    "value": {_GUESS}.get(x, 0.0)}} for x in inputs["xs"]]
sys.modules["fakeprobes.lesson99"] = fake
sys.modules["fakeprobes"].lesson99 = fake
def double(x):
    raise NotImplementedError
""",
    "patches_builtins": """
import builtins
real_import = builtins.__import__
builtins.bool = lambda *a: True
builtins.eval = lambda *a, **k: (lambda x: 0.0)
def fake_import(name, *args, **kwargs):
    return real_import(name, *args, **kwargs)
builtins.__import__ = fake_import
def double(x):
    return 0.0
""",
    "patches_numpy_and_math": """
import math
import numpy as np
np.allclose = lambda *a, **k: True
np.isclose = lambda *a, **k: True
math.isclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
def double(x):
    return 0.0
""",
    "races_with_a_thread": f"""
import sys, threading, time
def forge():
    while True:
        module = sys.modules.get("fakeprobes.lesson99")
        if module is not None:
            module.each_x = lambda inputs, fn: [{{"kind": "float", "type": "float",
                "value": {_GUESS}.get(x, 0.0)}} for x in inputs["xs"]]
        time.sleep(0.001)
threading.Thread(target=forge, daemon=True).start()
def double(x):
    return 0.0
""",
    "swaps_code_objects": """
import coursekit.exercise.probing as data
def lie(fn, *args, **kwargs):
    return {"kind": "float", "type": "float", "value": GUESS.get(args[0], 0.0)}
lie.__globals__["GUESS"] = GUESS
data.attempt.__code__ = lie.__code__
def double(x):
    raise NotImplementedError
""",
    "claims_a_shape_it_lacks": """
import coursekit.exercise.wire as data
import numpy as np
real_encode = data.encode
def forged(value):
    if isinstance(value, list):
        value = [{"kind": "array", "type": "ndarray", "dtype": "float64", "shape": [],
                  "value": np.zeros((0, 1))} for _ in value]
    return real_encode(value)
data.encode = forged
def double(x):
    raise NotImplementedError
""",
    "sends_a_zip_bomb": """
import io, zipfile
import coursekit.exercise.wire as data
def bomb(value):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        header = (b"\\x93NUMPY\\x01\\x00v\\x00{'descr': '<f8', 'fortran_order': False, "
                  b"'shape': (50000000,), }")
        header = header + b" " * (127 - len(header)) + b"\\n"
        archive.writestr("a0.npy", header + bytes(400_000_000))
    return '{"$array": "a0"}', buffer.getvalue()
data.encode = bomb
def double(x):
    raise NotImplementedError
""",
    "forges_the_status_channel": """
import os, signal, sys, time
fd = int(sys.argv[sys.argv.index("--status-fd") + 1])
signal.signal(signal.SIGALRM, signal.SIG_IGN)
for step in range(1000):
    os.write(fd, f"done {step}\\nstart 0\\n".encode())
    time.sleep(0.05)
""",
    # --- forging the pass line
    "forges_the_output": """
ip = get_ipython()
ip.events.register("post_run_cell", lambda *a: print("✔ 99-double: 5 cases\\n✔ 99-square: 5 cases"))
ip.set_custom_exc((BaseException,), lambda *a, **k: print("✔ 99-square: 5 cases"))
ip.showtraceback = lambda *a, **k: None
real_run_cell = ip.run_cell
ip.run_cell = lambda *a, **k: print("✔ passed")
def double(x):
    raise NotImplementedError
""",
    "writes_probe_files": """
import json, os, numpy as np, io
os.makedirs("probes", exist_ok=True)
for exercise in ("99-double", "99-square"):
    data = [{"kind": "float", "type": "float", "value": v} for v in (0.0, 2.0, 5.0, -6.0, 8.0)]
    with open(f"probes/{exercise}.json", "w") as handle:
        json.dump(data, handle)
    buffer = io.BytesIO(); np.savez(buffer)
    open(f"probes/{exercise}.npz", "wb").write(buffer.getvalue())
    os.chmod(f"probes/{exercise}.json", 0o444)
def double(x):
    raise NotImplementedError
""",
    # --- values that lie
    "returns_lying_values": """
import numpy as np
class Liar(np.ndarray):
    def __array_function__(self, func, types, args, kwargs):
        return True
    def __eq__(self, other):
        return True
    __float__ = lambda self: 2.0
class LyingFloat(float):
    def __eq__(self, other):
        return True
    __hash__ = float.__hash__
def double(x):
    return np.zeros(()).view(Liar)
def square(x):
    return LyingFloat(-1.0)
""",
    # --- copying
    "copies_reference": """
from fakechecks.lesson99 import reference_double as double
""",
    # --- reaching outside the kernel
    "reads_a_classmate": """
def double(x):
    with open({classmate!r}) as handle:
        handle.read()
    return 2 * x
""",
    "reads_the_judges": """
import os
def double(x):
    for path in ({lessons!r} + "/fakechecks/lesson99.py", {package!r} + "/exercise/spec.py"):
        open(path).read()
    return 2 * x
""",
    "rewrites_files": """
import os, pathlib
targets = [{classmate!r}, {lessons!r} + "/fakechecks/lesson99.py",
           {lessons!r} + "/fakeprobes/lesson99.py", {site!r} + "/coursekit_evil.pth",
           {package!r} + "/checks/__init__.py",
           os.path.expanduser("~/.ipython/profile_default/startup/00-evil.py"),
           {out!r} + "/grades.md"]
for target in targets:
    try:
        pathlib.Path(target).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(target).write_text("import os  # evil")
    except OSError:
        pass
def double(x):
    raise NotImplementedError
""",
    "leaves_a_detached_process": f"""
import subprocess
for _ in range(3):
    subprocess.Popen(["sh", "-c", "sleep {DETACHED_DELAY}; echo owned > {{out}}/grades-owned.txt"
                      "; sleep 30 # {MARKER}"], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def double(x):
    raise NotImplementedError
""",
    "kills_the_grader": """
import os, signal
for pid in (os.getppid(), 1):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
def double(x):
    raise NotImplementedError
""",
    "reads_host_secrets": """
def double(x):
    for path in ("/etc/shadow", "/etc/gshadow", "/etc/machine-id"):
        open(path).read()
    return 2 * x
""",
    "leaves_a_deep_tree": """
import os
for _ in range(1500):
    os.mkdir("d")
    os.chdir("d")
os.chdir("/submission")
def double(x):
    raise NotImplementedError
""",
    "uses_the_network": """
import socket
def double(x):
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    return 2 * x
""",
    # --- resources
    "forks_many_processes": f"""
import subprocess
spawned = []
for _ in range(200):
    try:
        spawned.append(subprocess.Popen(["sleep", "30"], stdout=subprocess.DEVNULL))
    except OSError:
        break
def double(x):
    raise NotImplementedError
# {MARKER}
""",
    "floods_the_output": """
import sys
chunk = "x" * 1_000_000
for _ in range(100):
    sys.stdout.write(chunk)
def double(x):
    raise NotImplementedError
""",
    "allocates_too_much": """
import numpy as np
hog = np.ones(3 * 1024**3 // 8)
def double(x):
    return hog[0] * 0
""",
    "many_slow_cells": """
import time
time.sleep(4)  # the cell is repeated: each stays under the cell limit
def double(x):
    raise NotImplementedError
""",
    # --- injecting text into the reports
    "injects_controls": """
class Trap(Exception):
    pass
Trap.__name__ = "=HYPERLINK(\\"http://evil\\")"
def double(x):
    raise Trap("\\x1b]8;;http://evil\\x07click\\x1b]8;;\\x07 \\u202eevil\\x1b[2J\\n| forged | 3 |")
""",
}

#: Techniques that need their own file name (report injection through the name).
_NAMES = {
    "injects_controls": "=cmd|' calc'!A0 99_fake\n| forged | 99_fake.ipynb | 3 / 3 |.ipynb",
    "leaves_a_deep_tree": " @SUM(1) 99_fake\u2028,99-double,1,1,true,forged.ipynb",
    "reads_host_secrets": os.fsdecode(b"\xff\xfe 99_fake.ipynb"),
}


def file_name(technique: str) -> str:
    """The submission file name of ``technique``."""
    return _NAMES.get(technique, f"hostile/{technique}/99_fake.ipynb")


def submissions(student: NotebookNode, **paths: object) -> dict[str, NotebookNode]:
    """File name -> notebook for every technique, its paths filled in."""
    filled = {key: str(value) for key, value in paths.items()}
    out = {}
    for name, source in TECHNIQUES.items():
        if any("{" + key in source for key in filled):
            source = source.format(**filled)
        nb = edited(student, "99-double-solution", _GUESSES + source)
        if name == "many_slow_cells":
            at = next(i for i, cell in enumerate(nb.cells)
                      if cell.get("id") == "99-double-solution")
            for copy in range(8):
                nb.cells.insert(at, new_code_cell(source, id=f"slow-{copy}"))
        out[file_name(name)] = nb
    return out
