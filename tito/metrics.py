"""How a metric is shown to a person: the one formatter every table, status line and log uses.

Accuracies are fractions of 1 and read as percentages with at most two decimals (0.9917 -> 99.17%,
0.95 -> 95%); other numbers keep four significant digits (a loss of 0.123456 -> 0.1235); anything
else is shown as it is. A live display whose columns must not move asks for fixed decimals and a
width, through the same function, so it can never disagree with the rest about what a figure means.
"""

from __future__ import annotations

import numbers

PERCENT_DECIMALS = 2
SIGNIFICANT_DIGITS = 4


def is_percentage(metric: str) -> bool:
    """Accuracies (train_accuracy, test_accuracy...) are fractions of 1, shown as percentages."""
    return "accuracy" in metric


def metric_name(metric: str) -> str:
    """The metric's name in words: test_accuracy -> "test accuracy"."""
    return metric.replace("_", " ")


def metric_text(metric: str, value, *, decimals: int | None = None, width: int = 0) -> str:
    """`value` of `metric` as a person reads it; "-" when there is none.

    `decimals` fixes the digits after the point (trailing zeros kept), `width` right-aligns: both for
    columns that must line up, such as the live training display's.
    """
    if value is None:
        text = "-"
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        text = str(value)
    elif is_percentage(metric):
        places = PERCENT_DECIMALS if decimals is None else decimals
        text = f"{100 * float(value):.{places}f}"
        if decimals is None and "." in text:
            text = text.rstrip("0").rstrip(".")
        text += "%"
    elif isinstance(value, numbers.Integral):
        text = str(int(value))
    elif decimals is not None:
        text = f"{float(value):.{decimals}f}"
    else:
        text = f"{float(value):.{SIGNIFICANT_DIGITS}g}"
    return text.rjust(width)


def metrics_text(metrics: dict) -> str:
    """Every number of a run's metrics, named: "test accuracy 99.17%, epochs 10, seed 1998"."""
    return ", ".join(
        f"{metric_name(key)} {metric_text(key, value)}"
        for key, value in metrics.items()
        if isinstance(value, numbers.Real) and not isinstance(value, bool)
    )
