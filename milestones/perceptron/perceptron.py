"""Rosenblatt's perceptron (1957): one artificial neuron learns to separate two kinds of points.

The neuron computes a weighted sum of its inputs and fires (predicts class 1) when the sum is
positive. Rosenblatt's learning rule needs no calculus: when the neuron is wrong, move the weights
towards the input it should have fired for (or away from the one it should not have). If a straight
line can separate the classes, the perceptron convergence theorem promises the rule stops making
mistakes after a finite number of updates.

Uses tinytorch's Tensor (module 01) and Linear layer (module 03); no autograd, no optimizer.

    tito milestone run perceptron          # or: python milestones/perceptron/perceptron.py
"""

import numpy as np

from tinytorch import Tensor
from tinytorch.nn import Linear

DATASETS = ("points",)
CONFIG = {
    "dataset": "points",  # random 2-D points on either side of a hidden line
    "epochs": 10,  # passes over the training points (it stops early once an epoch has no mistakes)
    "batch_size": 1,  # Rosenblatt's rule updates after every point; larger batches sum the updates
    "lr": 0.1,
    "seed": 1957,
}
SAMPLE_UNIT = "points"  # what the display counts per second
TRAIN_POINTS = 400
TEST_POINTS = 200
MARGIN = 0.05  # no point lies closer than this to the hidden line, so the classes are separable
BOUNDARY_GRID = 200  # boundary.png: the neuron's answer at 200 x 200 places in the square


def make_points(count, rng, normal, offset):
    """`count` points in the square [-1, 1]^2, labelled 1 on the positive side of the line."""
    points = np.empty((0, 2))
    while len(points) < count:
        candidates = rng.uniform(-1, 1, size=(2 * count, 2))
        distance = candidates @ normal + offset  # signed distance: `normal` has length 1
        points = np.concatenate([points, candidates[np.abs(distance) > MARGIN]])
    points = points[:count].astype(np.float32)
    labels = (points @ normal + offset > 0).astype(np.float32)
    return points, labels


def predict(neuron, points):
    """The perceptron fires (1) where the weighted sum is positive: a step function, not a sigmoid."""
    return (neuron(Tensor(points)).data[:, 0] > 0).astype(np.float32)


def decision_boundary(neuron, points, labels):
    """The neuron's answer all over the square, with the points it is judged on (for boundary.png)."""
    xs = ys = np.linspace(-1, 1, BOUNDARY_GRID)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2).astype(np.float32)
    classes = predict(neuron, grid).reshape(len(ys), len(xs))
    return {
        "xs": xs,
        "ys": ys,
        "classes": classes,
        "points": points,
        "labels": labels,
        "title": "the learned line, over the test points",
    }


def run(config=None):
    settings = {**CONFIG, **(config or {})}
    if settings.get("quick"):
        settings["epochs"] = 1
    progress = settings.get("progress") or (lambda event, **values: None)
    progress("settings", **settings)
    rng = np.random.default_rng(settings["seed"])
    np.random.seed(settings["seed"])  # tinytorch draws its initial weights from NumPy's global generator

    angle = rng.uniform(0, 2 * np.pi)
    normal, offset = np.array([np.cos(angle), np.sin(angle)]), rng.uniform(-0.3, 0.3)
    x_train, y_train = make_points(TRAIN_POINTS, rng, normal, offset)
    x_test, y_test = make_points(TEST_POINTS, rng, normal, offset)

    neuron = Linear(2, 1)
    epochs = settings["epochs"]
    batch_size, lr = settings["batch_size"], np.float32(settings["lr"])
    batches = -(-TRAIN_POINTS // batch_size)
    progress("start", epochs=epochs, batches=batches, batch_size=batch_size)

    converged_at = None
    for epoch in range(1, epochs + 1):
        order = rng.permutation(TRAIN_POINTS)
        mistakes = 0
        for batch in range(1, batches + 1):
            chosen = order[(batch - 1) * batch_size : batch * batch_size]
            points, labels = x_train[chosen], y_train[chosen]
            error = labels - predict(neuron, points)  # +1: should have fired, -1: should not have, 0: right
            # Rosenblatt's rule: w += lr * error * x, b += lr * error (summed over the batch).
            neuron.weight.data += lr * (error @ points)[None, :]
            neuron.bias.data += lr * error.sum()
            mistakes += int(np.abs(error).sum())
            progress("batch", epoch=epoch, batch=batch, loss=float(np.abs(error).mean()), samples=len(chosen))
        train_accuracy = float(np.mean(predict(neuron, x_train) == y_train))
        test_accuracy = float(np.mean(predict(neuron, x_test) == y_test))
        # The loss is the share of points the rule had to correct; on the test points, the share it gets wrong.
        progress(
            "epoch",
            epoch=epoch,
            loss=mistakes / TRAIN_POINTS,
            train_accuracy=train_accuracy,
            test_accuracy=test_accuracy,
            test_loss=1 - test_accuracy,
        )
        if mistakes == 0:
            converged_at = epoch
            progress(
                "note", text=f"No mistakes in epoch {epoch}: the perceptron has converged, as the theorem promises."
            )
            break

    w = neuron.weight.data[0]
    progress("note", text=f"Learned line: {w[0]:.2f}*x1 {w[1]:+.2f}*x2 {neuron.bias.data[0]:+.2f} = 0")
    return {
        "test_accuracy": test_accuracy,
        "train_accuracy": train_accuracy,
        "epochs": epoch,
        "converged_epoch": converged_at,  # None if it never had an epoch without mistakes
        "boundary": decision_boundary(neuron, x_test, y_test),  # drawn as boundary.png
    }


if __name__ == "__main__":
    from tito.milestones.events import print_progress, print_result

    print_result(run({"progress": print_progress}))
