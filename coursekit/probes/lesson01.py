"""Probes of lesson 01 beyond the generic one: the central difference is handed a function
built from the case's coefficients."""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.exercise.probing import attempt, guarded


class Polynomial:
    """f(θ) for one float θ: the polynomial with ``coeffs`` (highest power first)."""

    def __init__(self, coeffs: list[float]) -> None:
        self.coeffs = [float(c) for c in coeffs]

    def __call__(self, theta: Any) -> float:
        if np.ndim(theta) != 0:
            raise TypeError(f"f takes one float θ, got an array of shape {np.shape(theta)}: "
                            "call f once at θ + h and once at θ − h")
        return float(np.polyval(self.coeffs, float(theta)))

    def derivative(self, theta: float) -> float:
        """f'(θ), exactly."""
        return float(np.polyval(np.polyder(self.coeffs), theta))

    def __str__(self) -> str:
        """'0.5θ³ − 1.2θ + 0.3' for the coefficients [0.5, 0, −1.2, 0.3]."""
        powers = "⁰¹²³⁴⁵⁶⁷⁸⁹"
        terms = []
        for k, c in enumerate(self.coeffs):
            power = len(self.coeffs) - 1 - k
            if c == 0.0:
                continue
            base = "" if power == 0 else "θ" if power == 1 else "θ" + powers[power]
            terms.append(("− " if c < 0 else "+ ") + f"{abs(c):.3g}{base}")
        text = " ".join(terms) or "0"
        return text[2:] if text.startswith("+ ") else "−" + text[2:]


@guarded
def difference_cases(inputs: dict[str, Any], numerical_gradient: Any) -> list[dict[str, Any]]:
    """``numerical_gradient(f, theta[, h])`` for every case, without ``h`` where it has none."""
    results = []
    for case in inputs["cases"]:
        f = Polynomial([float(c) for c in case["coeffs"]])
        steps = (float(case["h"]),) if "h" in case else ()
        results.append(attempt(numerical_gradient, f, float(case["theta"]), *steps))
    return results
