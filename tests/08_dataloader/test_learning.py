"""Modules 03-08 together: Trainer + DataLoader + Adam learn XOR and a two-class spiral, seeded."""

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.data import DataLoader, TensorDataset
from tinytorch.nn import CrossEntropyLoss, Linear, ReLU, Sequential, Tanh
from tinytorch.optim import Adam
from tinytorch.training import Trainer, load_checkpoint, seed_everything

pytestmark = pytest.mark.m08


def spiral(n_per_class=200, noise=0.03, turns=1.5, seed=0):
    """Two interleaved spiral arms in the unit disc (class 0 and class 1), with Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0, 1, size=(2, n_per_class))) * turns * 2 * np.pi
    angle = t + np.array([[0.0], [np.pi]])
    radius = t / (turns * 2 * np.pi)
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1).reshape(-1, 2)
    points += rng.normal(0, noise, points.shape)
    return points.astype(np.float32), np.repeat([0, 1], n_per_class)


def test_xor_reaches_100_percent():
    seed_everything(0)
    points = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    labels = np.array([0, 1, 1, 0])
    loader = DataLoader(TensorDataset(points, labels), batch_size=4, shuffle=True)
    model = Sequential(Linear(2, 8), Tanh(), Linear(8, 2))
    trainer = Trainer(model, Adam(model.parameters(), lr=0.05), CrossEntropyLoss())
    history = trainer.fit(loader, epochs=150, val_loader=loader)
    assert history["val_accuracy"][-1] == 1.0
    assert history["val_loss"][-1] < 0.05
    predictions = model(Tensor(points)).data.argmax(axis=1)
    assert predictions.tolist() == [0, 1, 1, 0]


def test_two_class_spiral_reaches_95_percent_on_held_out_points(tmp_path):
    seed_everything(0)
    train = TensorDataset(*spiral(seed=0))
    test = TensorDataset(*spiral(seed=1))
    model = Sequential(Linear(2, 32), ReLU(), Linear(32, 32), ReLU(), Linear(32, 2))
    trainer = Trainer(model, Adam(model.parameters(), lr=0.01), CrossEntropyLoss())
    history = trainer.fit(
        DataLoader(train, batch_size=32, shuffle=True), epochs=60, val_loader=DataLoader(test, batch_size=200)
    )
    assert history["train_accuracy"][-1] >= 0.95
    assert history["val_accuracy"][-1] >= 0.95
    assert history["train_loss"][-1] < 0.25 * history["train_loss"][0]

    path = trainer.save_checkpoint(tmp_path / "spiral.npz")
    seed_everything(1)
    fresh = Sequential(Linear(2, 32), ReLU(), Linear(32, 32), ReLU(), Linear(32, 2))
    load_checkpoint(path, fresh)
    points = Tensor(test.arrays[0])
    assert np.array_equal(fresh(points).data, model(points).data), "identical predictions after loading"
