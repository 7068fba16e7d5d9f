"""Turn loaded or computed values into plain Python data, to write as YAML or JSON.

A progress record, a milestone's metrics and a script's settings may hold NumPy scalars, tuples,
non-string keys or the line-remembering mappings tito/schema.py loads YAML into; the writers want
dicts, lists and the JSON scalars. This is the one place that conversion is made.
"""

from __future__ import annotations

import datetime
import math

SCALARS = (type(None), bool, int, float, str)


def plain_data(value, *, for_json: bool = False):
    """`value` as plain Python data.

    Mappings become dicts with string keys; lists and tuples become lists; anything with an `.item()`
    that gives one value (a NumPy scalar, a 0-d array) becomes that Python number. None, bool, int,
    float and str stay as they are, and so do dates, which YAML holds; anything else becomes its str().
    With `for_json`, NaN and the infinities become "nan", "inf" and "-inf", and dates their str(),
    since JSON holds neither.
    """
    if isinstance(value, dict):
        return {
            key if isinstance(key, str) else str(key): plain_data(item, for_json=for_json)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [plain_data(item, for_json=for_json) for item in value]
    if type(value) not in SCALARS and callable(getattr(value, "item", None)):  # NumPy's float64 is a float too
        try:
            value = value.item()
        except (TypeError, ValueError):  # an array of several values: shown as text below
            pass
    if isinstance(value, float) and for_json and not math.isfinite(value):
        return str(value)
    if isinstance(value, SCALARS) or (isinstance(value, datetime.date) and not for_json):
        return value
    return str(value)
