"""The probe's side: call a student's function and describe what happened as plain data.

:func:`describe_value` turns whatever a student's function returned into plain data
(:mod:`coursekit.exercise.wire`), keeping what a judge needs to explain a mistake (the type,
the shape, the dtype); :func:`attempt` does the same for a call that raised, and
:func:`attempt_keeping` also notices arguments changed in place.
"""

from __future__ import annotations

import copy
import inspect
import linecache
import os
import sysconfig
import traceback
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np

from coursekit.exercise.wire import MAX_DEPTH, clip, plain_array


def _tensor_array(value: Any) -> np.ndarray | None:
    try:
        return plain_array(value.detach().cpu().double().numpy()
                           if value.is_floating_point() else value.detach().cpu().numpy())
    except Exception:
        return None


def describe_value(value: Any, *, depth: int = 0) -> dict[str, Any]:
    """Plain data describing ``value``: ``{"kind": ..., ...}``.

    ============ ==================================================================
    kind         other keys
    ============ ==================================================================
    ``none``     (none)
    ``bool``     ``value``
    ``int``      ``value``, ``type`` (``int``, ``int64``, ...)
    ``float``    ``value``, ``type`` (``float``, ``float32``, ...)
    ``str``      ``value`` (clipped)
    ``array``    ``type`` (``ndarray``, ``Tensor``, ...), ``dtype``, ``shape``, ``value``
    ``list``     ``type`` (``list`` or ``tuple``), ``items``
    ``dict``     ``items`` (string keys)
    ``other``    ``type``
    ============ ==================================================================

    Tensors become float64 arrays (``dtype`` keeps the original); ``requires_grad`` is kept
    for tensors. Nesting deeper than :data:`MAX_DEPTH` becomes ``other``.
    """
    type_name = type(value).__name__
    if depth > MAX_DEPTH:
        return {"kind": "other", "type": type_name}
    if value is None:
        return {"kind": "none"}
    if isinstance(value, bool | np.bool_):
        return {"kind": "bool", "value": bool(value)}
    if isinstance(value, int | np.integer):
        return {"kind": "int", "type": type_name, "value": int(value)}
    if isinstance(value, float | np.floating):
        return {"kind": "float", "type": type_name, "value": float(value)}
    if isinstance(value, str):
        return {"kind": "str", "value": clip(value)}
    if isinstance(value, np.ndarray):
        array = plain_array(value)
        if array is None:
            return {"kind": "other", "type": f"ndarray of {value.dtype}"}
        return {"kind": "array", "type": type_name, "dtype": str(value.dtype),
                "shape": list(array.shape), "value": array}
    if hasattr(value, "detach") and hasattr(value, "shape") and hasattr(value, "dtype"):
        array = _tensor_array(value)
        if array is None:
            return {"kind": "other", "type": type_name}
        return {"kind": "array", "type": type_name, "dtype": str(value.dtype).removeprefix(
            "torch."), "shape": list(array.shape), "value": array,
            "requires_grad": bool(getattr(value, "requires_grad", False))}
    if isinstance(value, list | tuple):
        items = [describe_value(item, depth=depth + 1) for item in list(value)[:1000]]
        return {"kind": "list", "type": "tuple" if isinstance(value, tuple) else "list",
                "length": len(value), "items": items}
    if isinstance(value, dict):
        return {"kind": "dict", "items": {str(key)[:100]: describe_value(item, depth=depth + 1)
                                          for key, item in list(value.items())[:1000]}}
    return {"kind": "other", "type": type_name}


#: Where the interpreter's and the installed packages' code lives: a frame there is not the
#: student's, even when the error surfaced there (``np.max`` of an empty array).
_LIBRARY_DIRS = tuple(sorted({os.path.join(os.path.realpath(path), "")
                              for key, path in sysconfig.get_paths().items()
                              if key in ("stdlib", "platstdlib", "purelib", "platlib")}))


def _library(filename: str) -> bool:
    """Whether ``filename`` is library code: a file under the interpreter's or the packages'
    folders, a frozen module, or a compiled module's relative source (``numpy/random/
    _generator.pyx``); a notebook cell (``<ipython-input-…>``, ipykernel's ``/tmp/ipykernel_…``
    files) or any other file of the student's is not."""
    if filename.startswith("<"):
        return filename.startswith("<frozen")
    if not os.path.isabs(filename):
        return True
    return os.path.realpath(filename).startswith(_LIBRARY_DIRS)


def _student_frame(tb: Any) -> str:
    """``"line 4, in cost: return errors.mean() + z"``: the innermost frame of the student's
    own code (outside coursekit and the libraries), else the innermost outside coursekit."""
    frames = [frame for frame in traceback.extract_tb(tb)
              if "coursekit" not in frame.filename.replace("\\", "/").split("/")]
    own = [frame for frame in frames if not _library(frame.filename)]
    if not frames:
        return ""
    frame = (own or frames)[-1]
    line = (frame.line or linecache.getline(frame.filename, frame.lineno or 0)).strip()
    return clip(f"line {frame.lineno}, in {frame.name}: {line}")


def _code_below_raise(tb: Any) -> bool:
    """Whether the innermost frame raised from a line with code below it in its function."""
    last = None
    while tb is not None:
        last, tb = tb, tb.tb_next
    if last is None:
        return False
    try:
        lines, first = inspect.getsourcelines(last.tb_frame.f_code)
    except (OSError, TypeError):
        return False
    after = lines[last.tb_lineno - first + 1:]
    return any(line.strip() and not line.strip().startswith("#") for line in after)


def attempt(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Call the student's ``fn`` and describe the result, or the exception it raised.

    An exception becomes ``{"kind": "raised", "type": ..., "message": ..., "frame": ...,
    "stub": bool, "below_raise": bool}``: ``stub`` when it is ``NotImplementedError``,
    ``below_raise`` when code follows the line that raised (the student wrote under the
    stub's ``raise``). Something not callable becomes ``{"kind": "not_callable", ...}``.
    """
    if not callable(fn):
        return {"kind": "not_callable", "got": describe_value(fn)}
    try:
        result = fn(*args, **kwargs)
    except Exception as exc:  # the student's bug, reported as data
        return raised(exc)
    return describe_value(result)


def _unchanged(now: Any, before: Any) -> bool:
    """Whether an argument holds what its copy ``before`` holds (shape and every value; a
    dict, its keys and each value)."""
    if isinstance(before, dict):
        return isinstance(now, dict) and set(now) == set(before) and \
            all(_unchanged(now[key], value) for key, value in before.items())
    try:
        a, b = np.asarray(now), np.asarray(before)
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    except Exception:  # an argument the student turned into something else
        return False


def attempt_keeping(fn: Any, args: Sequence[Any], names: Sequence[str], *,
                    kwargs: Mapping[str, Any] | None = None,
                    may_become_result: Collection[str] = ()) -> dict[str, Any]:
    """:func:`attempt` on ``fn(*args, **kwargs)``, noticing arguments changed in place.

    ``names`` names each positional argument that a later cell of the lesson uses again after
    the call (``""`` for one the function may change). When the call returns but changed one
    of them (``x -= mean``, ``grad **= 2``, ``z[...] = ...``), the description is
    ``{"kind": "changed", "names": [...], "result": <what attempt gives>}``. An argument named
    in ``may_become_result`` may change when the function returns that very array (ReLU's
    backward computed in place in ``dout``).
    """
    if not callable(fn):
        return attempt(fn)
    guarded_args = [read_only(arg) if name and name not in may_become_result else arg
                    for arg, name in zip(args, names, strict=True)]
    before = copies_of(guarded_args, names)  # what NumPy cannot guard (tensors, dict keys)
    try:
        result = fn(*guarded_args, **(kwargs or {}))
    except ValueError as exc:
        if not _read_only_write(exc):
            return raised(exc)
        # It wrote into an argument it was given read-only: a fail whatever else happens.
        # What it gives when allowed to write (on copies): a raise of its own is reported as
        # such, as before; else which argument it wrote, by calling again with one such
        # argument read-only at a time.
        try:
            allowed = describe_value(fn(*copy.deepcopy(list(args)), **(kwargs or {})))
        except Exception as error:  # noqa: BLE001 - the student's bug, reported as data
            return raised(error)
        guarded = [i for i, name in enumerate(names) if name and name not in may_become_result
                   and isinstance(args[i], np.ndarray | dict)]
        culprits = [names[i] for i in guarded if _writes_into(fn, args, i, kwargs)]
        culprits = culprits or [names[i] for i in guarded]
        return {"kind": "changed", "names": culprits, "result": allowed}
    except Exception as exc:  # the student's bug, reported as data
        return raised(exc)
    return kept(describe_value(result), guarded_args, names, before, result=result,
                may_become_result=may_become_result)


def read_only(value: Any) -> Any:
    """``value`` with every NumPy array in it (itself, or a dict's values) moved onto
    immutable memory: writing into it raises ``ValueError`` and NumPy refuses to make it
    writable again, so a function that changes an argument in place fails by what it does,
    not by what an instrument in its process reports (an object array stays as it was)."""
    if isinstance(value, dict):
        return {key: read_only(item) for key, item in value.items()}
    if isinstance(value, np.ndarray) and value.dtype != object and type(value) is np.ndarray:
        frozen = np.frombuffer(np.ascontiguousarray(value).tobytes(), dtype=value.dtype)
        return frozen.reshape(value.shape)
    return value


def _writes_into(fn: Callable[..., Any], args: Sequence[Any], index: int,
                 kwargs: Mapping[str, Any] | None) -> bool:
    """Whether ``fn`` writes into its ``index``-th argument (given read-only, the others as
    writable copies)."""
    trial = [read_only(arg) if i == index else copy.deepcopy(arg) for i, arg in enumerate(args)]
    try:
        fn(*trial, **(kwargs or {}))
    except ValueError as exc:
        return _read_only_write(exc)
    except Exception:  # noqa: BLE001 - another bug of the student's: not this question
        return False
    return False


def _read_only_write(exc: ValueError) -> bool:
    """Whether ``exc`` is NumPy refusing a write into a read-only array."""
    return "read-only" in str(exc)


def copies_of(args: Sequence[Any], names: Sequence[str]) -> dict[int, Any]:
    """Copies of the arguments ``names`` names (``""`` for one that may change), by position:
    what :func:`kept` compares them with after the call."""
    return {i: copy.deepcopy(arg) for i, (arg, name) in enumerate(zip(args, names, strict=True))
            if name}


def kept(got: dict[str, Any], args: Sequence[Any], names: Sequence[str],
         before: Mapping[int, Any], *, result: Any = None,
         may_become_result: Collection[str] = ()) -> dict[str, Any]:
    """``got`` (the description of a call's result), or ``{"kind": "changed", ...}`` as
    :func:`attempt_keeping` gives when the call changed in place an argument of ``before``
    (:func:`copies_of`). For a probe that needs the result object itself, not only its
    description (a loss to call ``backward()`` on, a loader to iterate)."""
    changed = [names[i] for i, old in before.items() if not _unchanged(args[i], old)
               and not (names[i] in may_become_result and result is args[i])]
    return {"kind": "changed", "names": changed, "result": got} if changed else got


def raised(exc: BaseException) -> dict[str, Any]:
    """Plain data describing an exception the student's code raised."""
    return {"kind": "raised", "type": type(exc).__name__, "message": clip(str(exc)),
            "frame": _student_frame(exc.__traceback__),
            "stub": isinstance(exc, NotImplementedError),
            "below_raise": _code_below_raise(exc.__traceback__)}


def guarded(probe: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a probe so that an exception inside it (a student object misbehaving while the
    probe inspects it) is returned as data rather than raised."""

    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return probe(*args, **kwargs)
        except Exception as exc:
            return {"kind": "raised", **{k: v for k, v in raised(exc).items() if k != "kind"}}

    run.__name__ = probe.__name__
    run.__qualname__ = probe.__qualname__
    run.__doc__ = probe.__doc__
    run.__module__ = probe.__module__
    return run


def _fresh(value: Any) -> Any:
    """A copy of one of the inputs' values, so what the student's code does to it stays here."""
    return np.array(value, copy=True) if isinstance(value, np.ndarray) else copy.deepcopy(value)


@guarded
def call_each(inputs: Mapping[str, Any], fn: Any) -> list[dict[str, Any]]:
    """The probe of every declared function exercise: ``fn`` on each case, described.

    ``inputs["call"]`` says how: ``args`` (the parameters' names, in order; a case leaves out
    a trailing one to call without it), ``keep`` (those that must come back unchanged),
    ``keywords`` (pass them by name, as the lesson's later cells do: True for all, or a list
    of the names passed by name) and ``may_become_result``
    (:func:`attempt_keeping`). Each call gets fresh copies of the case's values.
    """
    call, cases = inputs["call"], inputs["cases"]
    if not callable(fn):
        return [attempt(fn) for _ in cases]
    names = [name for name in call["args"]]
    results = []
    for case in cases:
        given = [name for name in names if name in case]
        keep = [name if name in call["keep"] else "" for name in given]
        target = fn
        by_name = call["keywords"]  # True (every argument), or the names passed by name
        if by_name:
            def target(*values: Any, _given: list[str] = given,
                       _named: Collection[str] = given if by_name is True else by_name) -> Any:
                pairs = list(zip(_given, values, strict=True))
                return fn(*(value for name, value in pairs if name not in _named),
                          **{name: value for name, value in pairs if name in _named})
        results.append(call_keeping(target, case, given, keep, call["may_become_result"]))
    return results


def call_keeping(fn: Any, case: Mapping[str, Any], given: Sequence[str], keep: Sequence[str],
                 may_become_result: Collection[str] = ()) -> dict[str, Any]:
    """:func:`attempt_keeping` on ``fn`` with fresh copies of ``case``'s values ``given``
    (``keep`` as its ``names``), and, when that call returned, ``"kept_after"``: the kept
    arguments as a second call on writable fresh copies left them, described. The judge
    compares those with the inputs it drew, outside this process, so a function that writes
    only into writable arrays, or into a tensor or a dict, is seen whatever the notebook
    patched here."""
    got = attempt_keeping(fn, [_fresh(case[name]) for name in given], keep,
                          may_become_result=may_become_result)
    if got.get("kind") in ("raised", "changed", "not_callable"):
        return got
    watched = [name for name in keep if name and name not in may_become_result]
    args = [_fresh(case[name]) for name in given]
    try:
        fn(*args)
    except Exception:  # noqa: BLE001, S110 - what it wrote before raising still shows
        pass
    return {**got, "kept_after": {name: describe_value(arg) for name, arg
                                  in zip(given, args, strict=True) if name in watched}}
