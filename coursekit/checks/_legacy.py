"""The matchers the checks used before :mod:`coursekit.exercise.mistakes`; going away as each
lesson moves to declared mistakes. Nothing new may use them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coursekit.exercise.judging import FLOAT32, FLOAT32_HINT, Failure, Tolerance, close, fail


def refuse_float32(got: Any, want: Any, what: str, *, rtol: float, atol: float) -> None:
    """Fail with :data:`FLOAT32_HINT` when ``got`` misses ``want`` at ``rtol``/``atol`` (float64
    rounding, what the lesson's later cells compare to) but matches it to float32 precision."""
    if not close(got, want, rtol=rtol, atol=atol) and close(got, want, **FLOAT32):
        raise fail(f"{what} is {FLOAT32_HINT}")


def diagnose(got: Any, want: Any, hints: Mapping[str, Any], *, where: str,
             rtol: float = 1e-6, atol: float = 1e-8) -> None:
    """Return when ``got`` matches ``want``; otherwise fail with the first hint whose
    candidate (what that mistake would produce) matches ``got``, or with ``where`` alone.

    ``hints`` maps a message to a candidate value (None to skip it):
    ``{"that is the sum; divide by m": want * m}``.
    """
    if close(got, want, rtol=rtol, atol=atol):
        return
    for hint, candidate in hints.items():
        if candidate is not None and close(got, candidate, rtol=rtol, atol=atol):
            raise fail(f"{where}: {hint}")
    raise fail(where)


def diagnose_float64(got: Any, want: Any, hints: Mapping[str, Any], *, where: str, what: str,
                     precise: Tolerance, rtol: float, atol: float) -> None:
    """:func:`diagnose` (hints at ``rtol``/``atol``) for a result the lesson's later cells
    compare to float64 rounding (``precise``): a named mistake first, then a result right only
    to float32 precision (:data:`FLOAT32_HINT`, naming ``what``), then ``where``. Some named
    mistakes (an eps in the wrong place) lie within float32 precision of ``want``."""
    if close(got, want, **precise):
        return
    if not any(candidate is not None and close(got, candidate, rtol=rtol, atol=atol)
               for candidate in hints.values()):
        refuse_float32(got, want, what, **precise)
    diagnose(got, want, hints, where=where, rtol=rtol, atol=atol)


def mistake(got: Any, hints: Mapping[str, Any], *, otherwise: str, where: str = "",
            rtol: float = 1e-6, atol: float = 1e-8) -> Failure:
    """The failure for a wrong ``got``: ``"where: hint"`` for the first hint whose candidate
    matches it, else ``otherwise`` as it stands. Use it as ``raise mistake(...)``.

    Like :func:`diagnose`'s table, a candidate is what that mistake would produce (None skips
    it), or a Python ``list`` of such values when several forms of one mistake share a message;
    a candidate may reuse the student's own values where the mistake leaves them free.
    """
    prefix = f"{where}: " if where else ""
    for hint, candidate in hints.items():
        forms = candidate if isinstance(candidate, list) else [candidate]
        if any(form is not None and close(got, form, rtol=rtol, atol=atol) for form in forms):
            return fail(prefix + hint)
    return fail(otherwise)
