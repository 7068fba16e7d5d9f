"""`tito milestone run lenet --quick --depthwise` trains the depthwise-separable LeNet through the CLI.

The same scratch course as test_quick_runs.py: course.yaml copied, the rest linked from this checkout.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tito.cli import app

pytestmark = [pytest.mark.slow, pytest.mark.milestone("lenet")]


def quick_record(course, *options) -> tuple[dict, str]:
    result = CliRunner().invoke(app, ["milestone", "run", "lenet", "--quick", "--no-live", *options])
    assert result.exit_code == 0, result.output
    runs = sorted((course.state_dir / "runs" / "lenet").iterdir())
    return json.loads((runs[-1] / "metrics.json").read_text()), result.output


def test_depthwise_runs_the_separable_lenet_with_fewer_conv_parameters(course):
    plain, _ = quick_record(course)
    separable, output = quick_record(course, "--depthwise")
    assert separable["config"]["depthwise"] is True and plain["config"]["depthwise"] is False
    assert "depthwise-separable convolutions" in output
    assert separable["metrics"]["conv_parameters"] < plain["metrics"]["conv_parameters"]
    assert separable["history"], "it trains"
