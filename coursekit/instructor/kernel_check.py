"""The code cell the grader runs in place of a submission's check cell.

It runs in the student's kernel, after the student's own code, so it trusts nothing the
student could have touched by name: it drops every cached ``coursekit.checks`` module and
imports the check package again from sources the grader read from disk *before* running any
submission (served by a private import finder), binds the check names the instructor's
lesson uses in a private copy of the namespace, runs the instructor's check and hidden tests
there, and prints a per-run secret only if none of them raised. The grader counts a pass
only when the cell ends without an error *and* that secret was printed.
"""

from __future__ import annotations

from collections.abc import Sequence

# Filled with repr()s of plain strings, lists and dicts, so it is valid Python whatever the
# sources hold. Kept free of names a submission could pre-define: everything is local.
_TEMPLATE = '''\
# coursekit grader: the instructor's check of {exercise} (this cell replaced the submission's)
def _coursekit_grader_check(user_ns):
    import importlib.abc
    import importlib.util
    import sys

    sources = {sources}
    package = {package!r}

    class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            if name not in sources:
                return None
            filename, is_package, _ = sources[name]
            return importlib.util.spec_from_loader(
                name, self, origin=filename, is_package=is_package
            )

        def create_module(self, spec):
            return None

        def exec_module(self, module):
            filename, _, source = sources[module.__name__]
            module.__file__ = filename
            exec(compile(source, filename, "exec"), module.__dict__)

    guard = user_ns.get("_coursekit_grader_guard")
    changed = guard() if callable(guard) else ["(the grader's guard was deleted)"]
    if changed:
        raise AssertionError(
            "the submission replaced library functions that checks rely on: "
            + ", ".join(changed[:5])
        )
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]
    finder = Finder()
    sys.meta_path.insert(0, finder)
    try:
        namespace = dict(user_ns)
        exec(compile({bindings!r}, "<instructor imports>", "exec"), namespace)
        exec(compile({check!r}, "<instructor check {exercise}>", "exec"), namespace)
        for number, hidden in enumerate({hidden!r}, start=1):
            try:
                exec(compile(hidden, "<hidden test>", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(
                    "hidden test " + str(number) + " failed: " + type(exc).__name__ + ": "
                    + str(exc)
                ) from None
    finally:
        sys.meta_path.remove(finder)
    print({nonce!r})


_coursekit_grader_check(globals())
del _coursekit_grader_check
'''

_GUARD = '''\
# coursekit grader: remember the library functions checks rely on, before the student's code
def _coursekit_grader_guard_setup():
    import sys

    for statement in {imports!r}:
        try:
            exec(statement, {{}})
        except Exception:
            pass
    watched, skip = {watched!r}, {package!r}
    snapshot = {{}}
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in watched:
            continue
        if name == skip or name.startswith(skip + "."):
            continue
        snapshot[name] = (module, {{k: v for k, v in vars(module).items() if callable(v)}})

    def changed():
        found = []
        for name, (module, items) in snapshot.items():
            current = vars(module)
            for key, value in items.items():
                if current.get(key) is not value:
                    found.append(name + "." + key)
        return found

    return changed


_coursekit_grader_guard = _coursekit_grader_guard_setup()
del _coursekit_grader_guard_setup
'''

#: Top-level packages whose module-level functions and classes a submission may not replace:
#: what the checks compare with (``coursekit.checks._core`` uses numpy). Not torch: it rebinds
#: its own functions lazily (importing ``torch._dynamo`` wraps ``torch.manual_seed``), which
#: would fail honest students.
WATCHED = ("numpy", "math", "coursekit")


def guard_cell_source(*, imports: Sequence[str], package: str) -> str:
    """The source of the cell the grader runs first, before any of the student's code.

    It imports what the lesson imports (``imports``: import statements) and remembers every
    callable at module level in :data:`WATCHED` packages (the check ``package`` aside, which
    is re-imported fresh anyway); each injected check then refuses to run if any was
    replaced (``numpy.allclose = lambda *a, **k: True``).
    """
    return _GUARD.format(imports=list(imports), watched=WATCHED, package=package)


#: A module of the check package: (file name, is it a package, source).
ModuleSource = tuple[str, bool, str]


def check_cell_source(
    *,
    exercise: str,
    package: str,
    sources: dict[str, ModuleSource],
    bindings: str,
    check: str,
    hidden: Sequence[str],
    nonce: str,
) -> str:
    """The source of the injected check cell for one exercise.

    Parameters
    ----------
    exercise : str
        The exercise id, for the cell's comment and tracebacks.
    package : str
        The check package (``"coursekit.checks"``) whose cached modules are dropped.
    sources : dict
        Module name -> (file name, is package, source) for the whole check package.
    bindings : str
        The instructor lesson's imports of the check package (``from coursekit.checks
        import lesson01 as check``), run before the check.
    check, hidden : str, sequence of str
        Plain Python (IPython magics already transformed) of the check cell and hidden tests.
    nonce : str
        The secret line printed when everything passed.
    """
    if "\n" in nonce:
        raise ValueError("the nonce must be one line")
    return _TEMPLATE.format(
        exercise=exercise,
        sources=repr(sources),
        package=package,
        bindings=bindings,
        check=check,
        hidden=list(hidden),
        nonce=nonce,
    )
