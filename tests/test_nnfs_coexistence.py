"""coursekit keeps working after ``nnfs.init()``, which the nnfs book (and seed 001) call.

``nnfs.init()`` patches NumPy globally: ``np.zeros``/``np.eye`` default to float32,
``np.random.randn`` and ``np.dot`` return float32, and the legacy global seed is set. It runs
in a subprocess here so the patch never leaks into other tests.
"""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import nnfs
    import numpy as np

    nnfs.init()
    assert np.zeros(3).dtype == np.float32  # the patch is active

    from coursekit import data, plot
    from coursekit import scratch as sk

    X, y = data.spiral(30, random_state=0)
    assert X.dtype == np.float64 and y.dtype == np.int64
    Xl, yl = data.linear_data(20, random_state=0)
    assert Xl.dtype == yl.dtype == np.float64
    assert data.three_points()[0].dtype == np.float64

    dense = sk.Dense(2, 16, random_state=1)
    assert {p.dtype for p in dense.params.values()} == {np.dtype(np.float64)}
    model = sk.Sequential(dense, sk.ReLU(), sk.Dropout(0.1, random_state=2),
                          sk.Dense(16, 3, init="he", random_state=3))
    history = model.fit(X, y, loss=sk.SoftmaxCrossEntropy(),
                        optimizer=sk.Adam(model.layers, lr=0.02), epochs=30, batch_size=32,
                        random_state=4)
    assert history["loss"][-1] < history["loss"][0]
    assert model.predict(X).dtype == np.float64
    model.eval()  # dropout off: the check needs a deterministic network
    errors = sk.check_model(model, sk.SoftmaxCrossEntropy(), X[5::7], y[5::7])
    assert max(errors.values()) < 1e-5, errors
    sk.check_layer(sk.Dense(3, 2, random_state=5), np.ones((4, 3)) * 0.5, random_state=6)
    sk.check_loss(sk.SoftmaxCrossEntropy(), np.ones((4, 3)), np.array([0, 1, 2, 0]))
    grad = sk.numerical_gradient(lambda v: float(np.sum(v**2)), np.ones(3))
    assert grad.dtype == np.float64

    import matplotlib
    matplotlib.use("Agg")
    plot.loss_curve(history["loss"], steps_per_epoch=1, recorded="after_step")  # epoch means
    plot.decision_boundary(lambda g: model.predict(g).argmax(axis=1), X, y, resolution=20)

    import torch
    from coursekit import pytorch
    net = pytorch.MLP((2, 8, 3), random_state=0, dtype=torch.float64)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    pytorch.fit(net, Xt, yt, loss_fn=torch.nn.CrossEntropyLoss(),
                optimizer=torch.optim.SGD(net.parameters(), lr=0.1), epochs=2, batch_size=16,
                random_state=1)
    assert 0.0 <= pytorch.accuracy(pytorch.predict_labels(net, Xt), yt) <= 1.0
    print("ok")
    """
)


def test_coursekit_after_nnfs_init():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
