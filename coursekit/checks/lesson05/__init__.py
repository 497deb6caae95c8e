"""Checks for lesson 05, autograd: the scalar engine's backward() and a new operation for it,
then torch tensors (the forward pass, the loss and the update of a classifier).

The classifier of the lesson is ``p = sigmoid(relu(X @ w_hidden + b_hidden) @ w_out + b_out)``
with coefficients ``(w_hidden, b_hidden, w_out, b_out)`` of shapes (n_inputs, n_hidden),
(n_hidden,), (n_hidden, 1) and (1,); its reference is :mod:`coursekit.checks.reference05`.

=================  ===================  ===========================================
exercise           module               the lesson's check cell
=================  ===================  ===========================================
05-backward        ``backprop``         ``check.backward(backward)``
05-train-mlp       ``train``            ``check.train_mlp(train_mlp)``
05-sigmoid-op      ``sigmoid``          ``check.sigmoid_op(sigmoid)``
05-predict         ``forward``          ``check.predict(calc_preds, calc_logits)``
05-loss            ``losses``           ``check.loss(calc_loss)``
05-update          ``step``             ``check.update(update_coeffs)``
=================  ===================  ===========================================
"""

from coursekit.checks.lesson05._shared import IN_PLACE_HINT, TOLERANCE
from coursekit.checks.lesson05.backprop import backward, reference_backward
from coursekit.checks.lesson05.forward import predict
from coursekit.checks.lesson05.losses import loss
from coursekit.checks.lesson05.sigmoid import reference_sigmoid, sigmoid_op
from coursekit.checks.lesson05.step import update
from coursekit.checks.lesson05.train import reference_train_mlp, train_mlp
from coursekit.checks.score import scorer
from coursekit.exercise import registry

EXERCISES = registry(backward, train_mlp, sigmoid_op, predict, loss, update)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)

__all__ = ["EXERCISES", "IN_PLACE_HINT", "TOLERANCE", "backward", "loss", "predict",
           "reference_backward", "reference_sigmoid", "reference_train_mlp", "score",
           "sigmoid_op", "train_mlp", "update"]
