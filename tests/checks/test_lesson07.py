"""Lesson 07 checks pass the reference and name the mistake in realistic wrong versions."""

import pytest
import torch
from torch import nn

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson07 as check


class Reference(nn.Module):
    """The lesson's module: given __init__, the forward the student writes."""

    def __init__(self, n_hidden, generator):
        super().__init__()
        self.hidden = nn.Linear(2, n_hidden)
        self.output = nn.Linear(n_hidden, 1)
        nn.init.kaiming_normal_(self.hidden.weight, nonlinearity="relu", generator=generator)
        nn.init.kaiming_normal_(self.output.weight, nonlinearity="linear", generator=generator)
        nn.init.zeros_(self.hidden.bias)
        nn.init.zeros_(self.output.bias)

    def forward(self, x):
        return self.output(torch.relu(self.hidden(x)))


def _variant(forward):
    return type("Variant", (Reference,), {"forward": forward})


# ---- 07-forward ----


def test_forward_passes_the_reference(capsys):
    check.module_forward(Reference)
    assert capsys.readouterr().out.startswith("✔ 07-forward")


class _Renamed(nn.Module):
    def __init__(self, n_hidden, generator):
        super().__init__()
        self.layer_1 = nn.Linear(2, n_hidden)
        self.layer_2 = nn.Linear(n_hidden, 1)

    def forward(self, x):
        return self.layer_2(torch.relu(self.layer_1(x)))


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_variant(lambda self, x: torch.sigmoid(self.output(torch.relu(self.hidden(x))))),
         "apply no sigmoid in forward"),
        (_variant(lambda self, x: self.output(self.hidden(x))), "needs its ReLU"),
        (_variant(lambda self, x: torch.relu(self.output(torch.relu(self.hidden(x))))),
         "a ReLU on the output"),
        (_variant(lambda self, x: self.output(torch.relu(self.hidden(x)))[:, 0]),
         r"got \(9,\): keep the column"),
        (_variant(lambda self, x: None), r"expected an array of shape \(9, 1\), got None"),
        (_Renamed, "an nn.Linear called `hidden`"),
    ],
)
def test_forward_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.module_forward(wrong)


# ---- 07-accuracy ----


def test_accuracy_passes_the_reference(capsys):
    check.accuracy(check.reference_accuracy)
    assert "✔ 07-accuracy" in capsys.readouterr().out


def _integer_division(logits, y):
    correct = int(((logits[:, 0] > 0).long() == y).sum())
    return correct // len(y)


def _percentage_integer_division(logits, y):  # the blog post's formula
    correct = int(((logits[:, 0] > 0).long() == y).sum())
    return 100 * correct // len(y)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_integer_division, "integer division"),
        (_percentage_integer_division, r"a percentage with integer division \(100 \* correct "
         r"// total\), which also floors it; return the fraction"),
        (lambda z, y: 100 * check.reference_accuracy(z, y), "not a percentage"),
        (lambda z, y: check.reference_accuracy(z - 0.5, y), "threshold at 0"),
        (lambda z, y: ((z > 0).long() == y).float().mean().item(), "broadcasts to a"),
        (lambda z, y: ((z[:, 0] > 0).long() == y).float().mean(), r"call \.item\(\)"),
        (lambda z, y: None, "expected a float, got None"),
    ],
)
def test_accuracy_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.accuracy(wrong)
