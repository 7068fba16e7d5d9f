"""Backpropagation learns handwritten digits (1986): a multi-layer perceptron on 8x8 images.

Rumelhart, Hinton and Williams showed that a network with hidden layers learns useful internal
features when every weight follows the gradient of the error, computed backwards layer by layer.
Here a network with one hidden layer of sigmoid units, trained by gradient descent with momentum as
in their paper, learns to read the 1,797 small handwritten digits that ship with the course.

Uses the whole of modules 01-08: Tensor, activations, Linear and Sequential, cross-entropy, autograd,
SGD with momentum, the Trainer and the DataLoader.

    tito milestone run mlp                 # or: python milestones/mlp/mlp.py
"""

from tinytorch import Tensor, no_grad
from tinytorch.data import DataLoader, TensorDataset
from tinytorch.nn import CrossEntropyLoss, Linear, Sequential, Sigmoid
from tinytorch.optim import SGD
from tinytorch.training import Trainer, seed_everything
from tito.datasets import load_tinydigits

DATASETS = ("tinydigits",)
CONFIG = {
    "dataset": "tinydigits",  # 1,437 training and 360 test digits, 8x8 pixels
    "epochs": 20,
    "batch_size": 32,
    "lr": 0.5,
    "seed": 1986,
}
SAMPLE_UNIT = "images"  # what the display counts per second
HIDDEN_UNITS = 64
MOMENTUM = 0.9  # the "momentum term" of Rumelhart, Hinton and Williams (1986)
QUICK_EPOCHS = 2
PICTURE_IMAGES = 200  # predictions.png picks its examples from the first 200 test digits
DIGITS = [str(digit) for digit in range(10)]


def build_model():
    """64 pixels -> 64 sigmoid hidden units -> 10 digit scores."""
    return Sequential(Linear(64, HIDDEN_UNITS), Sigmoid(), Linear(HIDDEN_UNITS, 10))


def run(config=None):
    settings = {**CONFIG, **(config or {})}
    if settings.get("quick"):
        settings["epochs"] = QUICK_EPOCHS
    progress = settings.get("progress") or (lambda event, **values: None)
    progress("settings", **settings)
    seed_everything(settings["seed"])
    x_train, y_train, x_test, y_test = load_tinydigits(settings.get("data_dir"))
    x_train, x_test = x_train.reshape(len(x_train), 64), x_test.reshape(len(x_test), 64)  # a flat vector each
    epochs = settings["epochs"]

    train_loader = DataLoader(
        TensorDataset(x_train, y_train), batch_size=settings["batch_size"], shuffle=True, seed=settings["seed"]
    )
    test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=512)
    model = build_model()
    optimizer = SGD(model.parameters(), lr=settings["lr"], momentum=MOMENTUM)
    trainer = Trainer(model, optimizer, CrossEntropyLoss())
    history = trainer.fit(train_loader, epochs=epochs, val_loader=test_loader, callback=progress)

    model.eval()  # for the pictures: the trained network's answer to every test digit
    with no_grad():
        predictions = model(Tensor(x_test)).data.argmax(axis=1)
    return {
        "test_accuracy": history["val_accuracy"][-1],
        "train_accuracy": history["train_accuracy"][-1],
        "loss": history["train_loss"][-1],
        "epochs": epochs,
        "test_images": x_test[:PICTURE_IMAGES].reshape(-1, 8, 8),  # drawn as predictions.png
        "test_predictions": predictions,  # with test_labels, drawn as confusion.png
        "test_labels": y_test,
        "class_names": DIGITS,
    }


if __name__ == "__main__":
    from tito.milestones.events import print_progress, print_result

    print_result(run({"progress": print_progress}))
