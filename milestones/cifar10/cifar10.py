"""The CNN north star (2012): a convolutional network learns CIFAR-10's ten kinds of photo.

32x32 colour photos of airplanes, cars, birds, cats, deer, dogs, frogs, horses, ships and trucks:
far harder than digits, and the data set on which convolutional networks trained on GPUs first
showed, around 2012, what deep learning could do. This network is small enough to train on two CPU
cores in about a minute and still pass 75% on held-out photos, built only from the course's layers:

    conv 3->32 (whitened, fixed), max-pool, batch norm, ReLU      (32 x 16 x 16)
    conv 32->64, max-pool, batch norm, ReLU                       (64 x 8 x 8)
    conv 64->128, max-pool, batch norm, ReLU                      (128 x 4 x 4)
    flatten, Linear 2048->10

Three choices make it fast, each measured (milestones/cifar10/README.md):
- Batch norm comes after the max-pool, on a quarter of the values (max-pooling commutes with an
  increasing per-channel function, and batch norm's statistics work as well on the pooled maps).
- The first layer is not learned: its filters whiten the photos' 3x3 patches, computed from the data
  before training (module 09's `patch_whitening`), so it needs no backward pass at all.
- The test photos are classified twice, as they are and mirrored, and the two answers averaged.
Training uses the recipe that made fast CIFAR training famous: random crops (4 pixels of padding)
and horizontal flips, SGD with Nesterov momentum and weight decay, and a one-cycle learning-rate
schedule that warms up to its peak and anneals to almost zero.

    tito milestone run cifar10                 # uses the cached data set (`tito data download cifar10`)
    tito milestone run cifar10 --data-dir DIR  # DIR holds cifar-10-batches-py/
"""

import numpy as np

from tinytorch import Tensor, no_grad
from tinytorch.data import DataLoader, TensorDataset
from tinytorch.data.transforms import Compose, RandomCrop, RandomHorizontalFlip
from tinytorch.nn import BatchNorm2d, Conv2d, CrossEntropyLoss, Flatten, Linear, MaxPool2d, ReLU, Sequential
from tinytorch.nn.whitening import patch_whitening
from tinytorch.optim import SGD
from tinytorch.optim.lr_scheduler import OneCycleLR
from tinytorch.training import Trainer, seed_everything
from tito.datasets import CIFAR10_CLASSES, load_cifar10

DATASETS = ("cifar10",)
CONFIG = {
    "dataset": "cifar10",
    "epochs": 4,
    "batch_size": 256,
    "lr": 0.2,  # the peak of the one-cycle schedule
    "seed": 2012,
}
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
LABEL_SMOOTHING = 0.0  # measured: 0.1 cost 0.6 points here (README)
WIDTHS = [(3, 32), (32, 64), (64, 128)]  # (in, out) channels of each conv block
WHITENING_PHOTOS = 5_000  # the training photos the first layer's filters are computed from
MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)  # CIFAR-10's per-channel statistics
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)
SAMPLE_UNIT = "images"  # what the display counts per second
BLAS_THREADS = 1  # the spatial layers run their own threads; OpenBLAS on top of them only competes for cores
QUICK_TRAIN_IMAGES = 512  # --quick: one epoch on this many images, tested on as many
EVAL_BATCH = 500
PREVIEW_IMAGES = 2_000  # the test photos checked after each epoch (all of them, mirrored too, at the end)
PICTURE_IMAGES = 200  # predictions.png picks its examples from the first 200 test photos


def block(channels_in, channels_out):
    """conv 3x3 -> max-pool 2 -> batch norm -> ReLU (no conv bias: batch norm's shift replaces it)."""
    return [
        Conv2d(channels_in, channels_out, kernel_size=3, padding=1, bias=False),
        MaxPool2d(2),
        BatchNorm2d(channels_out),
        ReLU(),
    ]


def build_model():
    blocks = [layer for channels_in, channels_out in WIDTHS for layer in block(channels_in, channels_out)]
    return Sequential(*blocks, Flatten(), Linear(WIDTHS[-1][1] * 4 * 4, 10))


def whiten_first_layer(model, images):
    """Set the first convolution to whitening filters of the photos' patches, and keep it fixed."""
    first = model[0]
    first.weight.data[...] = patch_whitening(images, kernel_size=3, out_channels=first.out_channels)
    first.weight.requires_grad = False  # not learned: no weight gradient, so no backward pass at all


def augment():
    """Each training batch: a random 32x32 crop of the photo padded by 4 pixels, and a random mirror."""
    return Compose([RandomCrop(32, padding=4), RandomHorizontalFlip()])


def normalize(images):
    """Per-channel zero mean and unit variance, once for the whole set, in place (no 500 MB copies)."""
    images -= MEAN[None, :, None, None]
    images /= STD[None, :, None, None]
    return images


def predict_with_mirrors(model, images):
    """Each photo's class from the network's scores for it and for its mirror image, added (eval mode)."""
    answers = []
    with no_grad():
        for i in range(0, len(images), EVAL_BATCH):
            batch = images[i : i + EVAL_BATCH]
            scores = model(Tensor(batch)).data + model(Tensor(np.ascontiguousarray(batch[..., ::-1]))).data
            answers.append(scores.argmax(axis=1))
    return np.concatenate(answers)


def feature_maps(model, image):
    """One photo after each conv block (conv, pool, batch norm, ReLU): what the network sees at each depth."""
    maps, x = [], Tensor(image[None])
    for layer in model:
        x = layer(x)
        if isinstance(layer, ReLU):
            maps.append(x.data[0])
    return maps


def run(config=None):
    settings = {**CONFIG, **(config or {})}
    if settings.get("quick"):
        settings["epochs"] = 1
    progress = settings.get("progress") or (lambda event, **values: None)
    progress("settings", **settings)
    seed_everything(settings["seed"])

    x_train, y_train, x_test, y_test = load_cifar10(settings.get("data_dir"))
    epochs = settings["epochs"]
    if settings.get("quick"):
        x_train, y_train = x_train[:QUICK_TRAIN_IMAGES], y_train[:QUICK_TRAIN_IMAGES]
        x_test, y_test = x_test[:QUICK_TRAIN_IMAGES], y_test[:QUICK_TRAIN_IMAGES]
    progress("note", text=f"CIFAR-10: {len(x_train):,} training and {len(x_test):,} test photos, 32x32x3")
    x_train, x_test = normalize(x_train), normalize(x_test)

    train_loader = DataLoader(
        TensorDataset(x_train, y_train),
        batch_size=settings["batch_size"],
        shuffle=True,
        seed=settings["seed"],
        transform=augment(),
    )
    # After each epoch a slice of the test set is enough to watch progress (all of it, twice, would
    # cost a tenth of the run); at the end every test photo is classified, as it is and mirrored.
    preview_loader = DataLoader(TensorDataset(x_test[:PREVIEW_IMAGES], y_test[:PREVIEW_IMAGES]), batch_size=EVAL_BATCH)
    model = build_model()
    whiten_first_layer(model, x_train[:WHITENING_PHOTOS])
    learned = [p for p in model.parameters() if p.requires_grad]
    optimizer = SGD(learned, lr=settings["lr"], momentum=MOMENTUM, nesterov=True, weight_decay=WEIGHT_DECAY)
    steps = max(2, epochs * len(train_loader))  # the schedule needs two steps, even for a one-batch run
    schedule = OneCycleLR(optimizer, max_lr=settings["lr"], total_steps=steps)
    trainer = Trainer(model, optimizer, CrossEntropyLoss(label_smoothing=LABEL_SMOOTHING), scheduler=schedule)

    progress("start", epochs=epochs, batches=len(train_loader), batch_size=settings["batch_size"])
    if len(x_test) > PREVIEW_IMAGES:
        progress(
            "note",
            text=f"Test accuracy: on {PREVIEW_IMAGES:,} of the test photos after each epoch; at the end on all "
            f"{len(x_test):,}, each seen as it is and mirrored.",
        )
    history = trainer.fit(train_loader, epochs=epochs, val_loader=preview_loader, callback=progress)

    model.eval()  # the final answers, also drawn as predictions.png and confusion.png
    predictions = predict_with_mirrors(model, x_test)
    test_accuracy = float(np.mean(predictions == y_test))
    progress(
        "note",
        text=f"Test accuracy on all {len(x_test):,} test photos, each seen as it is and mirrored: {test_accuracy:.2%}",
    )
    with no_grad():
        maps = feature_maps(model, x_test[0])
    return {
        "test_accuracy": test_accuracy,
        "preview_accuracy": history["val_accuracy"][-1],
        "train_accuracy": history["train_accuracy"][-1],
        "loss": history["train_loss"][-1],
        "epochs": epochs,
        "filters": model[0].weight.data,  # the first layer's whitening filters, drawn as filters.png
        "feature_maps": maps,  # test photo 0 after each conv block: feature_maps.png
        "test_images": x_test[:PICTURE_IMAGES] * STD[:, None, None] + MEAN[:, None, None],  # as photographed
        "test_predictions": predictions,  # with test_labels, drawn as confusion.png
        "test_labels": y_test,
        "class_names": list(CIFAR10_CLASSES),
    }


if __name__ == "__main__":
    from tito.milestones.events import print_progress, print_result

    print_result(run({"progress": print_progress}))
