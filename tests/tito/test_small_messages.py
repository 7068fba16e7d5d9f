"""Small things a student reads: the whole prerequisite chain, the pictures line at 80 columns, a
legend that covers no point, and the xor milestone's data as it is."""

from __future__ import annotations

from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def test_a_refusal_names_the_chain_down_to_the_first_module_to_complete(make_course, monkeypatch, tito):
    course = make_course("student", count=3, edition="student")
    monkeypatch.chdir(course.root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    refused = tito("module", "start", "03")
    assert refused.exit_code == 1
    names = [m.name for m in course.course.modules]
    assert (
        f"{names[2]} needs {names[1]} completed first, and {names[1]} needs {names[0]}: run `tito module complete 01`."
        in " ".join(refused.output.split())
    )


def test_the_pictures_line_fits_80_columns_and_breaks_only_between_names(monkeypatch, capsys):
    from tito import console
    from tito.commands.milestone import _print_pictures

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(console, "_console", None)
    names = ["curves", "filters", "feature_maps", "predictions", "confusion", "boundary"]
    _print_pictures([Path(f"{name}.png") for name in names], ".tito/runs/cifar10/20261206-071234")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Pictures in .tito/runs/cifar10/20261206-071234/:"
    assert all(len(line) <= 80 for line in lines), lines
    assert " ".join(" ".join(lines[1:]).split()) == ", ".join(f"{name}.png" for name in names) + "."


def test_the_boundary_legend_lies_outside_the_square_so_it_covers_no_point(tmp_path, monkeypatch):
    from tito.milestones.plots import classes

    drawn = {}

    def keep(fig, path):
        fig.canvas.draw()
        drawn["boxes"] = [(ax.get_window_extent(), ax.get_legend().get_window_extent()) for ax in fig.axes]
        return Path(path)

    monkeypatch.setattr(classes, "save", keep)
    rng = np.random.default_rng(0)
    grid = np.linspace(-0.2, 1.2, 20)
    panel = {
        "xs": grid,
        "ys": grid,
        "classes": (grid[None, :] + grid[:, None] > 1).astype(int),
        "points": rng.uniform(-0.2, 1.2, size=(300, 2)),  # everywhere, the corners included
        "labels": rng.integers(0, 2, size=300),
        "title": "the learned line",
    }
    classes.decision_boundary(tmp_path / "boundary.png", "perceptron (1957)", panel)
    for square, legend in drawn["boxes"]:
        assert not square.overlaps(legend), (square, legend)


def test_the_xor_data_is_described_as_the_script_makes_it():
    import importlib.util

    spec = importlib.util.spec_from_file_location("xor_script", REPO / "milestones" / "xor" / "xor.py")
    xor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(xor)
    points = xor.TRAIN_POINTS + xor.TEST_POINTS + len(xor.CORNERS)
    row = next(line for line in (REPO / "README.student.md").read_text().splitlines() if line.startswith("| `xor`"))
    assert f"{points} generated points" in row and "four XOR points" not in row
