"""Lesson 09's experiment over several seeds: test accuracy of each method chosen by validation.

The lesson runs its protocol once, with seed 0; one seed's numbers move by a point or two
with the seed. This repeats the protocol (100 training digits, 400 for validation, the 450
test digits; a 64 -> 128 -> 128 -> 10 ReLU network, 150 epochs of full-batch SGD with
momentum) with seeds 0..n-1, each seed drawing its own split, initial weights and dropout
masks, and prints the spread of the test accuracies: no regularisation, early stopping on the
validation loss, L2 weight decay with lambda chosen on validation, dropout with the rate
chosen on validation.

Usage::

    .venv/bin/python benchmarks/regularization.py [--seeds 5]
"""

from __future__ import annotations

import os

for _name, _value in {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                      "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}.items():
    os.environ.setdefault(_name, _value)

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from coursekit import data, scratch  # noqa: E402

N_TRAIN, N_VAL, EPOCHS, EVERY, LR, PATIENCE = 100, 400, 150, 5, 0.05, 5
LAMBDAS = (0.001, 0.01, 0.03, 0.1)
RATES = (0.2, 0.5)
METHODS = ("no regularisation", "early stopping", "L2 weight decay", "dropout")


def make_net(rate: float, seed: int) -> scratch.Sequential:
    rng = np.random.default_rng(seed)
    layers: list[scratch.Layer] = []
    for n_in in (64, 128):
        layers += [scratch.Dense(n_in, 128, init="he", random_state=rng), scratch.ReLU()]
        if rate > 0:
            layers.append(scratch.Dropout(rate, random_state=rng))
    layers.append(scratch.Dense(128, 10, init="he", random_state=rng))
    return scratch.Sequential(*layers)


def train(net: scratch.Sequential, split: tuple[np.ndarray, ...], weight_decay: float) -> dict:
    X_train, y_train, X_val, y_val = split
    loss_fn = scratch.SoftmaxCrossEntropy()
    opt = scratch.SGD(net.layers, lr=LR, momentum=0.9, weight_decay=weight_decay)
    hist: dict[str, list] = {"val_loss": [], "val_acc": [], "weights": []}
    for epoch in range(1, EPOCHS + 1):
        net.train()
        loss_fn.forward(net.forward(X_train), y_train)
        net.backward(loss_fn.backward())
        opt.step()
        if epoch % EVERY == 0:
            loss, acc = net.evaluate(X_val, y_val, loss=loss_fn)
            hist["val_loss"].append(loss)
            hist["val_acc"].append(acc)
            hist["weights"].append(net.state_dict())
    return hist


def chosen(runs: dict[float, dict]) -> float:
    """The setting with the best final validation accuracy, then the lowest validation loss."""
    return max(runs, key=lambda k: (runs[k]["val_acc"][-1], -runs[k]["val_loss"][-1]))


def one_seed(seed: int) -> dict[str, float]:
    """Test accuracy of every method, each chosen on validation, for one seed."""
    digits = data.load_digits(random_state=seed)
    split = (digits.X_train[:N_TRAIN], digits.y_train[:N_TRAIN],
             digits.X_train[N_TRAIN:N_TRAIN + N_VAL], digits.y_train[N_TRAIN:N_TRAIN + N_VAL])

    def test_acc(hist: dict, rate: float = 0.0, index: int = -1) -> float:
        net = make_net(rate, seed)
        net.load_state_dict(hist["weights"][index])
        return float(np.mean(net.predict(digits.X_test).argmax(axis=1) == digits.y_test))

    plain = train(make_net(0.0, seed), split, 0.0)
    l2 = {0.0: plain} | {lam: train(make_net(0.0, seed), split, lam) for lam in LAMBDAS}
    drop = {rate: train(make_net(rate, seed), split, 0.0) for rate in RATES}
    stop = scratch.early_stopping_epoch(plain["val_loss"], patience=PATIENCE)
    lam, rate = chosen(l2), chosen(drop)
    return {"no regularisation": test_acc(plain), "early stopping": test_acc(plain, index=stop),
            "L2 weight decay": test_acc(l2[lam]), "dropout": test_acc(drop[rate], rate),
            "lambda": lam, "rate": rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    print(f"\nLesson 09 over {args.seeds} seeds: test accuracy, each method chosen on validation")
    start = time.perf_counter()
    results = []
    for seed in range(args.seeds):
        row = one_seed(seed)
        results.append(row)
        print(f"  seed {seed}: " + ", ".join(f"{m} {row[m]:.3f}" for m in METHODS)
              + f" (λ = {row['lambda']:g}, rate = {row['rate']})", flush=True)
    base = np.array([row["no regularisation"] for row in results], dtype=np.float64)
    print(f"  {'method':<20} {'mean':>6} {'std':>6} {'min':>6} {'max':>6} {'gain vs none':>14}")
    for method in METHODS:
        acc = np.array([row[method] for row in results], dtype=np.float64)
        gain = acc - base
        print(f"  {method:<20} {acc.mean():6.3f} {acc.std(ddof=1):6.3f} {acc.min():6.3f} "
              f"{acc.max():6.3f} {gain.mean():+7.3f} ± {gain.std(ddof=1):.3f}")
    print(f"  ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
