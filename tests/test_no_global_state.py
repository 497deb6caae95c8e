"""Nothing in coursekit draws from, seeds or otherwise changes global random state.

Lessons rely on this: a cell's numbers depend only on the seeds it passes, never on which
cells ran before it.
"""

import numpy as np
import torch

from coursekit import data, pytorch
from coursekit import scratch as sk


def _global_states():
    return np.random.get_state()[1].copy(), torch.random.get_rng_state().clone()  # noqa: NPY002


def test_seeded_work_across_the_package_leaves_global_generators_alone():
    numpy_before, torch_before = _global_states()

    X, y = data.spiral(20, random_state=0)
    model = sk.Sequential(sk.Dense(2, 8, init="he", random_state=1), sk.ReLU(),
                          sk.Dropout(0.2, random_state=2), sk.Dense(8, 3, random_state=3))
    model.fit(X, y, loss=sk.SoftmaxCrossEntropy(), optimizer=sk.Adam(model.layers, lr=0.01),
              epochs=2, batch_size=16, random_state=4)

    net = pytorch.MLP([2, 8, 1], random_state=5)
    Xt = torch.tensor(X, dtype=torch.float32)
    yt = torch.tensor((y == 0).astype(np.float32))[:, None]
    pytorch.fit(net, Xt, yt, loss_fn=torch.nn.BCEWithLogitsLoss(),
               optimizer=torch.optim.SGD(net.parameters(), lr=0.1), epochs=2,
               batch_size=16, random_state=6)
    pytorch.tensor_batches(Xt, yt, batch_size=4, random_state=None)

    numpy_after, torch_after = _global_states()
    np.testing.assert_array_equal(numpy_after, numpy_before)
    assert torch.equal(torch_after, torch_before), "torch's global generator was advanced"
