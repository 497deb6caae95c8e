"""Checks for lesson 11, convolutions.

Images are (N, C, H, W); a convolution's weights are (F, C, KH, KW) and its bias (F,). With
``xpad`` the input padded by ``p`` zeros on each side and stride ``s``:

- forward: ``out[n, f, i, j] = b[f] + Σ_{c,u,v} W[f, c, u, v] · xpad[n, c, i·s + u, j·s + v]``,
  of shape (N, F, OH, OW) with ``OH = (H + 2p − KH) // s + 1``;
- backward: ``dW[f, c, u, v] = Σ_{n,i,j} dout[n, f, i, j] · xpad[n, c, i·s + u, j·s + v]``,
  ``db[f] = Σ_{n,i,j} dout[n, f, i, j]``, and every output pixel adds ``dout · W`` back onto
  the patch it saw (``+=``: patches overlap), cropped to the unpadded input;
- max pooling in ``size × size`` windows side by side: the gradient of each window goes to its
  maximum, the first in reading order when several tie (PyTorch's rule);
- a convolution's output shape: ``(N, F, OH, OW)`` with ``OH = (H + 2p − KH) // s + 1``;
- with stride 1 and a square kernel, dx is a *full* convolution of ``dout`` with the kernel
  flipped in both image axes and its filters and channels swapped (padding ``k − 1 − p``).

===================  ==============  ==================================================
exercise             module          the lesson's check cell
===================  ==============  ==================================================
11-conv-shape        ``shape``       ``check.conv_output_shape(conv_output_shape)``
11-conv-forward      ``forward``     ``check.conv_forward(conv_forward)``
11-conv-backward     ``backward``    ``check.conv_backward(conv_backward)``
11-conv-dx-full      ``dx_full``     ``check.conv_dx_full(conv_dx_full)``
11-maxpool-backward  ``pool``        ``check.maxpool_backward(maxpool_backward)``
===================  ==============  ==================================================
"""

from coursekit.checks.lesson11._shared import (
    TOLERANCE,
    _conv_cases,
    _conv_dx,
    output_size,
    reference_conv_backward,
    reference_conv_forward,
    reference_maxpool_backward,
    reference_maxpool_forward,
)
from coursekit.checks.lesson11.backward import BACKWARD_MISTAKES, conv_backward
from coursekit.checks.lesson11.dx_full import DX_MISTAKES, conv_dx_full, reference_conv_dx_full
from coursekit.checks.lesson11.forward import FORWARD_MISTAKES, conv_forward
from coursekit.checks.lesson11.pool import POOL_MISTAKES, _pool_cases, maxpool_backward
from coursekit.checks.lesson11.shape import (
    SHAPE_MISTAKES,
    conv_output_shape,
    reference_conv_output_shape,
)
from coursekit.checks.score import scorer
from coursekit.exercise import registry

EXERCISES = registry(conv_output_shape, conv_forward, conv_backward, conv_dx_full,
                     maxpool_backward)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)

__all__ = ["BACKWARD_MISTAKES", "DX_MISTAKES", "EXERCISES", "FORWARD_MISTAKES", "POOL_MISTAKES",
           "SHAPE_MISTAKES", "TOLERANCE", "_conv_cases", "_conv_dx", "_pool_cases",
           "conv_backward", "conv_dx_full", "conv_forward", "conv_output_shape",
           "maxpool_backward", "output_size", "reference_conv_backward",
           "reference_conv_dx_full", "reference_conv_forward", "reference_conv_output_shape",
           "reference_maxpool_backward", "reference_maxpool_forward", "score"]
