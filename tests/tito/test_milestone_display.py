"""What a person sees while a milestone trains: labelled figures, a loss that agrees, units, 80 columns."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from tito.milestones.display import LiveDisplay, PlainDisplay, epoch_line, figures_line
from tito.milestones.events import Progress


def test_an_epoch_line_reads_as_a_sentence_of_figures():
    line = epoch_line(12, 3, {"loss": 0.1234, "train_accuracy": 0.9, "test_accuracy": 0.955}, 4.25, 1500.0, "images")
    assert line == "epoch  3/12  loss 0.1234  train  90.0%  test  95.5%   1,500 images/s     4.2 s"
    assert "test    -  " in epoch_line(1, 1, {"loss": 0.5}, 1.0, None)


def test_an_epoch_line_fits_80_columns_at_the_fastest_speed_measured():
    line = epoch_line(30, 30, {"loss": 0.0098, "train_accuracy": 1.0, "test_accuracy": 1.0}, 12.5, 94_526.0, "points")
    assert "94,526 points/s" in line and len(line) <= 80


def test_plain_display_prints_one_line_per_epoch_and_notes():
    console = Console(record=True, width=120, force_terminal=False)
    display = PlainDisplay(console)
    progress = Progress(display, unit="points")
    progress("start", epochs=2, batches=1, batch_size=4)
    progress("batch", epoch=1, batch=1, loss=0.5, samples=4)
    progress("epoch", epoch=1, loss=0.5, test_accuracy=0.5)
    progress("note", text="[not markup] halfway")
    lines = console.export_text().splitlines()
    assert lines[0] == "Training for 2 epochs of 1 batches of 4 points."
    assert lines[1].startswith("epoch 1/2  loss 0.5000") and "points/s" in lines[1]
    assert lines[2] == "[not markup] halfway"


def live_text(width: int, last_batch_of_the_first_epoch: bool = False) -> str:
    """What a LiveDisplay shows at `width` columns after a first epoch of four batches and one batch of
    the second (or, if asked, at the first epoch's last batch): its printed lines, then the bar as drawn."""
    console = Console(width=width, record=True, force_terminal=True, file=io.StringIO())
    display = LiveDisplay(console)  # not started: the test draws the bar itself, once, at the end
    progress = Progress(display, unit="images")
    progress("start", epochs=2, batches=4, batch_size=8)
    for batch, loss in zip((1, 2, 3, 4), (0.9, 0.3, 0.2, 0.1)):
        progress("batch", epoch=1, batch=batch, loss=loss, samples=8 if batch < 4 else 4)
    if not last_batch_of_the_first_epoch:
        progress("epoch", epoch=1, loss=progress.running_loss, train_accuracy=0.976, test_accuracy=0.986)
        progress("batch", epoch=2, batch=1, loss=0.125, samples=8)
    console.print(display.bar.get_renderable())
    return console.export_text()


def last_screen(text: str) -> list[str]:
    """The bar's two lines."""
    return text.splitlines()[-2:]


def test_the_live_bar_labels_every_figure():
    bar, figures = last_screen(live_text(width=120))
    assert bar.startswith("epoch 2/2 ") and " 1/4 " in bar and "images/s" in bar and "left 0:0" in bar
    assert figures == "loss (running, this epoch) 0.1250   last epoch: train 97.6% test 98.6%"


def test_the_bar_at_an_epochs_last_batch_shows_the_loss_its_epoch_line_shows():
    # Batches of 8, 8, 8 and 4 images: the epoch's loss is the mean over images, not over batches.
    epoch_loss = (0.9 * 8 + 0.3 * 8 + 0.2 * 8 + 0.1 * 4) / 28
    _, figures = last_screen(live_text(width=120, last_batch_of_the_first_epoch=True))
    assert figures == f"loss (running, this epoch) {epoch_loss:.4f}"
    assert f"epoch 1/2  loss {epoch_loss:.4f}" in live_text(width=120)


@pytest.mark.parametrize("width", [80, 60])
def test_a_narrow_terminal_still_shows_the_last_epochs_accuracies(width):
    bar, figures = last_screen(live_text(width=width))
    assert " 1/4 " in bar and "left 0:0" in bar and len(bar) <= width
    assert "train 97.6% test 98.6%" in figures and "0.1250" in figures and len(figures) <= width
    if width == 80:
        assert figures.startswith("loss (running, this epoch)")


def test_the_figures_line_shortens_its_labels_before_dropping_anything():
    last = {"train_accuracy": 0.976, "test_accuracy": 0.986}
    assert figures_line(0.1453, last, 80) == "loss (running, this epoch) 0.1453   last epoch: train 97.6% test 98.6%"
    assert figures_line(0.1453, last, 64) == "loss (this epoch) 0.1453   last epoch: train 97.6% test 98.6%"
    assert figures_line(0.1453, last, 45) == "loss 0.1453   last: train 97.6% test 98.6%"
    assert figures_line(0.1453, None, 80) == "loss (running, this epoch) 0.1453"  # no epoch finished yet


def test_a_started_live_display_prints_finished_epochs_above_the_bar_and_clears_the_bar():
    screen = io.StringIO()
    console = Console(width=80, force_terminal=True, file=screen)
    with LiveDisplay(console) as display:
        progress = Progress(display, unit="images")
        progress("start", epochs=1, batches=1, batch_size=2)
        progress("batch", epoch=1, batch=1, loss=0.5, samples=2)
        progress("epoch", epoch=1, loss=0.5, train_accuracy=1.0, test_accuracy=0.5)
    text = screen.getvalue()
    assert text.endswith("\x1b[1A\x1b[2K\x1b[1A\x1b[2K")  # both lines of the bar were erased when the run ended
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert "epoch 1/1  loss 0.5000  train 100.0%  test  50.0%" in plain
