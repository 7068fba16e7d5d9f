"""Property tests for the two places student-chosen bytes meet the grader's judgement: the record
decoder (total: any bytes give a Stream, never an exception) and the strict comparison (never raises,
and never passes a value that differs from the reference in kind, dtype kind, shape or values)."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tito.grading import channel
from tito.grading.compare import same_values

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DTYPES = st.sampled_from(
    [np.bool_, np.int8, np.uint8, np.int32, np.int64, np.uint64, np.float16, np.float32, np.float64]
)
ARRAYS = DTYPES.flatmap(lambda d: hnp.arrays(d, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)))
TEXT = st.one_of(st.text(max_size=20), st.lists(st.text(max_size=8), max_size=4))
VALUES = st.one_of(
    ARRAYS, TEXT, st.none(), st.integers(), st.floats(), st.dictionaries(st.text(max_size=3), st.integers())
)
JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=20,
)


def _framed(header: bytes, body: bytes) -> bytes:
    return channel.MAGIC + struct.pack(">I", len(header)) + header + struct.pack(">Q", len(body)) + body


@SETTINGS
@given(st.binary(max_size=2000))
def test_any_bytes_decode_without_raising(data):
    stream = channel.decode(data)
    assert isinstance(stream.records, list)


@SETTINGS
@given(JSONISH, st.binary(max_size=200))
def test_any_json_header_decodes_without_raising(header, body):
    data = _framed(json.dumps(header, allow_nan=True).encode(), body)
    stream = channel.decode(data + channel.encode("end"))
    for record in stream.records:
        for array in record.arrays.values():
            assert array.dtype.kind in "biuf" and array.dtype.itemsize <= 8


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(["dtype", "shape", "offset", "nbytes"]),
        st.one_of(JSONISH, st.sampled_from([",", "O", "<U8", "V8", "<c16", ">f8", "Infinity", math.inf, -1, 2**70])),
    )
)
def test_hostile_array_specs_are_malformed_never_an_exception(spec):
    header = {"kind": "check", "check": "c", "arrays": {"x": spec}, "text": {}}
    data = _framed(json.dumps(header, allow_nan=True).encode(), bytes(64))
    stream = channel.decode(data)
    assert stream.malformed or all(r.arrays["x"].dtype.kind in "biuf" for r in stream.records)


@SETTINGS
@given(ARRAYS)
def test_every_plain_array_round_trips(array):
    (record,) = channel.decode(channel.encode("check", "c", {"x": array})).records
    got = record.arrays["x"]
    assert got.shape == array.shape and got.dtype.kind == array.dtype.kind
    assert np.array_equal(got, array, equal_nan=array.dtype.kind == "f")


def _kind(array: np.ndarray) -> str:
    return {"b": "bool", "i": "int", "u": "int", "f": "float"}.get(array.dtype.kind, "other")


def _oracle_equal(got, expected, rtol, atol) -> bool:
    """Element by element, in Python numbers: the definition the comparison must keep."""
    if isinstance(expected, (str, list)):
        return type(got) is type(expected) and got == expected
    if not isinstance(got, np.ndarray) or _kind(got) != _kind(expected) or got.shape != expected.shape:
        return False
    for g, e in zip(got.ravel().tolist(), expected.ravel().tolist()):
        if _kind(expected) != "float":
            if g != e:
                return False
        elif math.isnan(e) or math.isnan(g):
            if not (math.isnan(e) and math.isnan(g)):
                return False
        elif math.isinf(e) or math.isinf(g):
            if g != e:
                return False
        elif not abs(g - e) <= atol + rtol * abs(e):
            return False
    return True


@SETTINGS
@given(st.one_of(ARRAYS, TEXT), VALUES)
def test_the_comparison_never_raises_and_passes_only_what_the_oracle_passes(expected, got):
    reason = same_values({"x": got}, {"x": expected}, 1e-4, 1e-5)
    assert (reason is None) == _oracle_equal(got, expected, 1e-4, 1e-5)


@SETTINGS
@given(ARRAYS)
def test_a_value_of_another_kind_never_passes(expected):
    for kind in (np.bool_, np.int64, np.float64):
        other = np.ones(expected.shape, dtype=kind)
        if _kind(other) != _kind(expected):
            assert same_values({"x": other}, {"x": expected}, 1e-4, 1e-5) is not None


@SETTINGS
@given(ARRAYS, ARRAYS)
def test_the_comparison_agrees_with_the_oracle_on_arrays(expected, got):
    reason = same_values({"x": got}, {"x": expected}, 1e-4, 1e-5)
    assert (reason is None) == _oracle_equal(got, expected, 1e-4, 1e-5)
