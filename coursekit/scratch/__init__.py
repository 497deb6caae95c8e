"""coursekit.scratch: a small NumPy neural-network framework, checked against PyTorch.

Layers (``forward``/``backward``, ``params``/``grads`` under the same names), losses
(``forward(output, target)``/``backward()``), optimizers that update parameters in place
(``SGD(model.layers, lr=1.0).step()``), a ``Sequential`` model with ``fit``/``predict``/
``evaluate``/``save``/``load``, and gradient checks.
"""

from coursekit.scratch.attention import (
    SelfAttention,
    attention_backward,
    causal_mask,
    scaled_dot_product_attention,
)
from coursekit.scratch.conv import Conv2d, Flatten, MaxPool2d, Unflatten
from coursekit.scratch.embedding import Embedding
from coursekit.scratch.gradcheck import (
    GradientCheckError,
    GradientCheckWarning,
    check_layer,
    check_loss,
    check_model,
    finite_difference_noise,
    numerical_gradient,
    relative_error,
)
from coursekit.scratch.layers import Dense, Dropout, Layer, ReLU, Sigmoid, Softmax, Tanh
from coursekit.scratch.losses import (
    MSE,
    BinaryCrossEntropy,
    BinaryCrossEntropyWithLogits,
    CategoricalCrossEntropy,
    Loss,
    SoftmaxCrossEntropy,
)
from coursekit.scratch.model import Sequential, TrainingDiverged
from coursekit.scratch.normalization import BatchNorm1d, LayerNorm
from coursekit.scratch.optim import SGD, Adagrad, Adam, Optimizer, RMSprop
from coursekit.scratch.regularization import early_stopping_epoch, l2_penalty

__all__ = [
    "Layer", "Dense", "ReLU", "Sigmoid", "Tanh", "Softmax", "Dropout",
    "Conv2d", "MaxPool2d", "Flatten", "Unflatten", "Embedding",
    "SelfAttention", "scaled_dot_product_attention", "attention_backward", "causal_mask",
    "Loss", "MSE", "BinaryCrossEntropy", "BinaryCrossEntropyWithLogits",
    "CategoricalCrossEntropy", "SoftmaxCrossEntropy",
    "Optimizer", "SGD", "Adagrad", "RMSprop", "Adam",
    "Sequential", "TrainingDiverged",
    "GradientCheckError", "GradientCheckWarning", "finite_difference_noise", "numerical_gradient",
    "relative_error",
    "check_layer", "check_loss", "check_model",
    "BatchNorm1d", "LayerNorm", "l2_penalty", "early_stopping_epoch",
]
