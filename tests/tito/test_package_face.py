"""The package's face: names offered where they live, machinery kept out, wrong packages pointed home."""

from __future__ import annotations

import pytest

import tinytorch
import tinytorch.nn
import tinytorch.optim


def test_a_layer_is_offered_by_its_package_and_at_the_top():
    assert tinytorch.nn.Linear is tinytorch.Linear
    assert "Linear" in dir(tinytorch.nn) and "Linear" in tinytorch.__all__


def test_the_engine_is_machinery_reached_only_through_its_own_file():
    from tinytorch.nn import engine  # a hand-written file: its names are in no catalog

    assert "sliced" not in tinytorch.nn.__all__ and callable(engine.sliced)
    with pytest.raises(AttributeError, match=r"module 'tinytorch.nn' has no attribute 'sliced'"):
        tinytorch.nn.sliced  # noqa: B018


def test_a_name_asked_of_the_wrong_package_is_pointed_to_its_own():
    with pytest.raises(AttributeError) as error:
        tinytorch.optim.Linear  # noqa: B018
    assert str(error.value) == "module 'tinytorch.optim' has no attribute 'Linear': import it from tinytorch.nn."


def test_an_unknown_name_is_an_ordinary_attribute_error():
    with pytest.raises(AttributeError, match=r"^module 'tinytorch.nn' has no attribute 'Nonesuch'$"):
        tinytorch.nn.Nonesuch  # noqa: B018
