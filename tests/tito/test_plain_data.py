"""tito/plain_data.py: the one conversion of loaded or computed values into plain data to write."""

import datetime
import json
import math

import numpy as np
import yaml

from tito.plain_data import plain_data


def test_numpy_values_tuples_and_keys_become_plain_python():
    value = {1: (np.float64(1.5), np.int64(3), np.bool_(True)), "x": np.array(2.0), "many": np.zeros(2)}
    got = plain_data(value)
    assert got == {"1": [1.5, 3, True], "x": 2.0, "many": "[0. 0.]"}
    assert [type(v) for v in got["1"]] == [float, int, bool]
    assert yaml.safe_load(yaml.safe_dump(got)) == got


def test_yaml_keeps_nan_and_dates_json_gets_text_for_them():
    when = datetime.datetime(2026, 1, 2, 3, 4, 5)
    kept = plain_data({"loss": float("nan"), "at": when})
    assert math.isnan(kept["loss"]) and kept["at"] is when
    for_json = plain_data({"loss": float("nan"), "best": -math.inf, "at": when}, for_json=True)
    assert for_json == {"loss": "nan", "best": "-inf", "at": "2026-01-02 03:04:05"}
    assert json.loads(json.dumps(for_json, allow_nan=False)) == for_json
