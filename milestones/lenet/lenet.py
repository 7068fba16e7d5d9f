"""LeNet (1998): a convolutional network reads handwritten digits.

Convolutions slide one small set of weights over the whole image, so a stroke detector learned in
one corner works everywhere; pooling makes the answer tolerant of small shifts; a few dense layers
at the end turn the detected features into a digit. This is LeCun's recipe, trained end to end with
backpropagation, on the framework built in modules 01-09.

Two data sets:
- tinydigits (the default, shipped with the course): 8x8 digits. LeNet-5 was drawn for 32x32 input,
  so it is fitted to 8x8 by using 3x3 kernels with padding 1 (every convolution keeps the size) and
  more channels: conv 1->16 (8x8), pool (4x4), conv 16->32 (4x4), pool (2x2), then the classic
  120-84-10 dense layers on the 32*2*2 = 128 features.
- mnist (`--dataset mnist`): LeNet-5 itself on 28x28 digits: conv 1->6 5x5 padding 2 (28x28), pool
  (14x14), conv 6->16 5x5 (10x10), pool (5x5), dense 400-120-84-10. It trains on MNIST's 60,000
  training images when they are there; with only the 10,000 test images (t10k) it splits those
  8,000 / 2,000 (a fixed random split).

Depthwise-separable (`tito milestone run lenet --depthwise`, or config {"depthwise": True}):
the second convolution becomes module 09's DepthwiseSeparableConv2d (MobileNet's block: a 3x3 or 5x5
filter per channel, then a 1x1 convolution mixing the channels), with several times fewer weights.

    tito milestone run lenet                         # or: python milestones/lenet/lenet.py
    tito milestone run lenet --dataset mnist --data-dir DIR
    tito milestone run lenet --depthwise             # the depthwise-separable LeNet
"""

import numpy as np

from tinytorch import Tensor, no_grad
from tinytorch.data import DataLoader, TensorDataset
from tinytorch.nn import Conv2d, CrossEntropyLoss, Flatten, Linear, MaxPool2d, ReLU, Sequential
from tinytorch.nn.conv import DepthwiseSeparableConv2d
from tinytorch.optim import Adam
from tinytorch.optim.lr_scheduler import OneCycleLR
from tinytorch.training import Trainer, seed_everything
from tito.datasets import MissingDataError, load_mnist, load_tinydigits

DATASETS = ("tinydigits", "mnist")
CONFIG = {
    "dataset": "tinydigits",
    "epochs": 10,
    "batch_size": 32,
    "lr": 0.01,  # the peak of the one-cycle schedule (Adam)
    "seed": 1998,
    "depthwise": False,  # True: the second convolution is depthwise-separable
}
SAMPLE_UNIT = "images"  # what the display counts per second
BLAS_THREADS = (
    1  # the matrices here are small: extra BLAS threads only wait on each other (see tito/milestones/tuning.py)
)
MNIST_CONFIG = {"epochs": 8, "batch_size": 64, "lr": 0.005}  # what changes for --dataset mnist
MNIST_SPLIT_SEED = 10_000  # fixes which 8,000 of the t10k images train when only those are present
QUICK_TRAIN_IMAGES = 2_000  # --quick: one epoch on at most this many images
EVAL_BATCH = 500
PICTURE_IMAGES = 200  # predictions.png picks its examples from the first 200 test digits
DIGITS = [str(digit) for digit in range(10)]


def second_conv(in_channels, out_channels, depthwise, **options):
    """The second convolution: plain, or depthwise-separable (a filter per channel, then a 1x1 mix)."""
    layer = DepthwiseSeparableConv2d if depthwise else Conv2d
    return layer(in_channels, out_channels, **options)


def lenet_8x8(depthwise=False):
    """LeNet fitted to 8x8 digits: 3x3 kernels keep the size, pooling halves it twice (8 -> 4 -> 2)."""
    return Sequential(
        Conv2d(1, 16, kernel_size=3, padding=1),
        ReLU(),
        MaxPool2d(2),  # 16 x 4 x 4
        second_conv(16, 32, depthwise, kernel_size=3, padding=1),
        ReLU(),
        MaxPool2d(2),  # 32 x 2 x 2
        Flatten(),
        Linear(32 * 2 * 2, 120),
        ReLU(),
        Linear(120, 84),
        ReLU(),
        Linear(84, 10),
    )


def lenet5(depthwise=False):
    """LeNet-5 on 28x28 digits (padding 2 stands in for the 32x32 frame of the original)."""
    return Sequential(
        Conv2d(1, 6, kernel_size=5, padding=2),
        ReLU(),
        MaxPool2d(2),  # 6 x 14 x 14
        second_conv(6, 16, depthwise, kernel_size=5),
        ReLU(),
        MaxPool2d(2),  # 16 x 5 x 5
        Flatten(),
        Linear(16 * 5 * 5, 120),
        ReLU(),
        Linear(120, 84),
        ReLU(),
        Linear(84, 10),
    )


def predict(model, images):
    """The digit the trained network picks for each image (call in eval mode, under no_grad)."""
    return np.concatenate(
        [model(Tensor(images[i : i + EVAL_BATCH])).data.argmax(axis=1) for i in range(0, len(images), EVAL_BATCH)]
    )


def feature_maps(model, image):
    """One image after each conv block (conv, ReLU, pool): what the network sees at each depth."""
    maps, x = [], Tensor(image[None])
    for layer in model:
        x = layer(x)
        if isinstance(layer, MaxPool2d):
            maps.append(x.data[0])
    return maps


def load_digits(dataset, data_dir):
    """(x_train, y_train, x_test, y_test, a sentence saying what the split is)."""
    if dataset == "tinydigits":
        return (*load_tinydigits(data_dir), "tinydigits: 1,437 training and 360 test images, 8x8")
    try:
        return (*load_mnist(data_dir), "MNIST: 60,000 training and 10,000 test images, 28x28")
    except MissingDataError as no_training_files:
        try:
            images, labels = load_mnist(data_dir, split="test")
        except MissingDataError:
            if data_dir is None:
                raise no_training_files from None  # names the files, their URLs and `tito data import`
            raise MissingDataError(
                f"{data_dir} holds no MNIST files: put MNIST's four IDX files there (or just the two t10k "
                "files), or leave out --data-dir after `tito data download mnist`."
            ) from None
    order = np.random.default_rng(MNIST_SPLIT_SEED).permutation(len(images))
    cut = len(images) * 4 // 5
    train, test = order[:cut], order[cut:]
    note = f"MNIST t10k only: {cut:,} of its images train and the other {len(images) - cut:,} test, 28x28"
    return images[train], labels[train], images[test], labels[test], note


def run(config=None):
    config = config or {}
    dataset = config.get("dataset", CONFIG["dataset"])
    settings = {**CONFIG, **(MNIST_CONFIG if dataset == "mnist" else {}), **config}
    if settings.get("quick"):
        settings["epochs"] = 1
    progress = settings.get("progress") or (lambda event, **values: None)
    progress("settings", **settings)
    seed_everything(settings["seed"])

    x_train, y_train, x_test, y_test, note = load_digits(dataset, settings.get("data_dir"))
    progress("note", text=note)
    epochs = settings["epochs"]
    if settings.get("quick"):
        x_train, y_train = x_train[:QUICK_TRAIN_IMAGES], y_train[:QUICK_TRAIN_IMAGES]

    train_loader = DataLoader(
        TensorDataset(x_train, y_train), batch_size=settings["batch_size"], shuffle=True, seed=settings["seed"]
    )
    test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=EVAL_BATCH)
    depthwise = bool(settings["depthwise"])
    model = lenet_8x8(depthwise) if dataset == "tinydigits" else lenet5(depthwise)
    conv_parameters = sum(
        p.size for layer in model if isinstance(layer, (Conv2d, DepthwiseSeparableConv2d)) for p in layer.parameters()
    )
    progress(
        "note",
        text=f"{'depthwise-separable' if depthwise else 'plain'} convolutions: "
        f"{sum(p.size for p in model.parameters()):,} parameters, {conv_parameters:,} of them in convolutions",
    )
    optimizer = Adam(model.parameters(), lr=settings["lr"])
    steps = max(2, epochs * len(train_loader))  # the schedule needs two steps, even for a one-batch run
    schedule = OneCycleLR(optimizer, max_lr=settings["lr"], total_steps=steps)
    trainer = Trainer(model, optimizer, CrossEntropyLoss(), scheduler=schedule)
    history = trainer.fit(train_loader, epochs=epochs, val_loader=test_loader, callback=progress)

    model.eval()  # for the pictures: the trained network's answers, and what its conv blocks see
    with no_grad():
        predictions, maps = predict(model, x_test), feature_maps(model, x_test[0])
    return {
        "test_accuracy": history["val_accuracy"][-1],
        "train_accuracy": history["train_accuracy"][-1],
        "loss": history["train_loss"][-1],
        "epochs": epochs,
        "parameters": sum(p.size for p in model.parameters()),
        "conv_parameters": conv_parameters,
        "filters": model[0].weight.data,  # the first layer's kernels, drawn as filters.png
        "feature_maps": maps,  # test image 0 after each conv block: feature_maps.png
        "test_images": x_test[:PICTURE_IMAGES],  # drawn with their answers as predictions.png
        "test_predictions": predictions,  # with test_labels, drawn as confusion.png
        "test_labels": y_test,
        "class_names": DIGITS,
    }


if __name__ == "__main__":
    import sys

    from tito.milestones.events import print_progress, print_result

    print_result(run({"progress": print_progress, "depthwise": "--depthwise" in sys.argv[1:]}))
