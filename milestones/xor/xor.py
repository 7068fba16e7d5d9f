"""The XOR problem (1969): a single layer cannot learn it; one hidden layer can.

XOR is 1 when exactly one of its two inputs is 1. No straight line separates {(0,1), (1,0)} from
{(0,0), (1,1)}, so a single-layer network (Rosenblatt's perceptron, or any linear classifier) gets
at most three of the four cases right, which Minsky and Papert made famous. Add a hidden layer and
train it with backpropagation, and the network bends its decision boundary around the points.

This script shows both: it first trains a single layer (and reports how far it gets), then a network
with one hidden layer of tanh units. Uses tinytorch's layers (03), activations (02), losses (04),
autograd (05) and optimizers (06), in a training loop written out by hand.

    tito milestone run xor                 # or: python milestones/xor/xor.py
"""

import numpy as np

from tinytorch import Tensor, no_grad
from tinytorch.nn import BCEWithLogitsLoss, Linear, Sequential, Tanh
from tinytorch.optim import Adam

DATASETS = ("xor",)
CONFIG = {
    "dataset": "xor",  # the four corners of the unit square, each a cloud of jittered copies
    "epochs": 30,
    "batch_size": 20,
    "lr": 0.05,
    "seed": 1969,
}
SAMPLE_UNIT = "points"  # what the display counts per second
HIDDEN_UNITS = 4
TRAIN_POINTS = 200
TEST_POINTS = 100
JITTER = 0.2  # each point lies within 0.2 of its corner, so every label is unambiguous
CORNERS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
BOUNDARY_GRID = 150  # boundary.png: each network's answer at 150 x 150 places around the square
BOUNDARY_RANGE = (-0.4, 1.4)


def make_points(count, rng):
    """`count` jittered copies of the four corners, labelled with the XOR of the corner."""
    corners = rng.integers(0, 4, size=count)
    points = CORNERS[corners] + rng.uniform(-JITTER, JITTER, size=(count, 2)).astype(np.float32)
    labels = np.logical_xor(CORNERS[corners, 0], CORNERS[corners, 1]).astype(np.float32)
    return points, labels[:, None]


def accuracy(model, points, labels):
    """A logit above 0 means the network says 1."""
    return float(np.mean((model(Tensor(points)).data > 0) == (labels > 0.5)))


def decision_boundary(model, points, labels, title):
    """The network's answer all around the unit square, with the points it is judged on (for boundary.png)."""
    xs = ys = np.linspace(*BOUNDARY_RANGE, BOUNDARY_GRID)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2).astype(np.float32)
    with no_grad():
        classes = (model(Tensor(grid)).data[:, 0] > 0).reshape(len(ys), len(xs)).astype(np.int64)
    return {"xs": xs, "ys": ys, "classes": classes, "points": points, "labels": labels[:, 0], "title": title}


def train(model, x_train, y_train, x_test, y_test, settings, rng, progress=None):
    """Mini-batch gradient descent: forward, loss, backward, step. Returns the last epoch's figures."""
    optimizer = Adam(model.parameters(), lr=settings["lr"])
    loss_fn = BCEWithLogitsLoss()
    batch_size, epochs = settings["batch_size"], settings["epochs"]
    batches = -(-len(x_train) // batch_size)
    if progress:
        progress("start", epochs=epochs, batches=batches, batch_size=batch_size)
    for epoch in range(1, epochs + 1):
        order, total = rng.permutation(len(x_train)), 0.0
        for batch in range(1, batches + 1):
            chosen = order[(batch - 1) * batch_size : batch * batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(Tensor(x_train[chosen])), Tensor(y_train[chosen]))
            loss.backward()
            optimizer.step()
            total += loss.item() * len(chosen)
            if progress:
                progress("batch", epoch=epoch, batch=batch, loss=loss.item(), samples=len(chosen), lr=optimizer.lr)
        with no_grad():
            figures = {
                "loss": total / len(x_train),
                "train_accuracy": accuracy(model, x_train, y_train),
                "test_accuracy": accuracy(model, x_test, y_test),
                "test_loss": loss_fn(model(Tensor(x_test)), Tensor(y_test)).item(),
            }
        if progress:
            progress("epoch", epoch=epoch, **figures)
    return figures


def run(config=None):
    settings = {**CONFIG, **(config or {})}
    if settings.get("quick"):
        settings["epochs"] = min(settings["epochs"], 10)
    progress = settings.get("progress") or (lambda event, **values: None)
    progress("settings", **settings)
    rng = np.random.default_rng(settings["seed"])
    np.random.seed(settings["seed"])  # tinytorch draws its initial weights from NumPy's global generator
    x_train, y_train = make_points(TRAIN_POINTS, rng)
    x_test, y_test = make_points(TEST_POINTS, rng)
    # The test set also holds the four exact corners: the truth table itself.
    x_test = np.concatenate([x_test, CORNERS])
    y_test = np.concatenate([y_test, np.logical_xor(CORNERS[:, 0], CORNERS[:, 1]).astype(np.float32)[:, None]])

    single_layer = Linear(2, 1)
    single = train(single_layer, x_train, y_train, x_test, y_test, settings, rng)
    truth_table = accuracy(single_layer, CORNERS, y_test[-4:])
    progress(
        "note",
        text=(
            f"One layer (1969): {single['test_accuracy']:.0%} of the test points, {truth_table:.0%} of the truth table. "
            "No straight line separates XOR."
        ),
    )
    progress("note", text=f"Now with a hidden layer of {HIDDEN_UNITS} tanh units, trained by backpropagation (1986):")

    network = Sequential(Linear(2, HIDDEN_UNITS), Tanh(), Linear(HIDDEN_UNITS, 1))
    hidden = train(network, x_train, y_train, x_test, y_test, settings, rng, progress)
    return {
        "test_accuracy": hidden["test_accuracy"],
        "train_accuracy": hidden["train_accuracy"],
        "loss": hidden["loss"],
        "single_layer_test_accuracy": single["test_accuracy"],
        "boundary": [  # drawn side by side as boundary.png
            decision_boundary(
                single_layer, x_test, y_test, f"one layer: {single['test_accuracy']:.0%} of the test points"
            ),
            decision_boundary(
                network, x_test, y_test, f"hidden layer of {HIDDEN_UNITS} tanh units: {hidden['test_accuracy']:.0%}"
            ),
        ],
    }


if __name__ == "__main__":
    from tito.milestones.events import print_progress, print_result

    print_result(run({"progress": print_progress}))
