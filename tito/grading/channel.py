"""The one way results leave a graded run: plain numbers in a framed stream, never a pickle.

A record is a JSON header and the raw bytes of its arrays:

    b"TTGR" | header length (4 bytes, big-endian) | header (UTF-8 JSON) | body length (8 bytes) | body

The header names the record's kind ("hello", "check", "refusal", "end"), the check, its text values
(strings or lists of strings), an error line, and for each array its dtype, shape and place in the
body. Only booleans, integers and floats of at most 8 bytes, named by one of `DTYPES`, are accepted,
so nothing in a record can run code when it is read. The grader reads with hard limits (total bytes,
records, header size, elements), stops at the first malformed record and keeps what came before it;
`decode` is total: no bytes make it raise.

What the grader makes of a record is a verdict, never its text: a check's values are compared with
the reference's, an error line is reduced to an exception type from a fixed list, and a refusal is
counted (see verdict.py).

The student's code can write to the same stream: that is expected. A record only carries numbers,
and a check passes only when its numbers match the reference computed outside the sandbox on inputs
drawn for this run.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field

MAGIC = b"TTGR"
MAX_HEADER_BYTES = 64 * 1024
MAX_TEXT_CHARS = 4000
ERROR_CHARS = 300


def _normalise(value):
    """A check's value as ("text", str | list[str]) or ("array", ndarray); ValueError otherwise."""
    import numpy as np

    if isinstance(value, str):
        return "text", value[:MAX_TEXT_CHARS]
    if isinstance(value, (list, tuple)) and value and all(isinstance(item, str) for item in value):
        return "text", [item[:MAX_TEXT_CHARS] for item in value]
    if not isinstance(value, (np.ndarray, np.generic, bool, int, float, list, tuple)):
        raise ValueError(f"a {type(value).__name__} is not a number or an array")
    array = np.asarray(value)
    if array.dtype.kind not in "biuf" or array.dtype.itemsize > 8:
        raise ValueError(f"an array of dtype {array.dtype} is not plain numbers")
    return "array", np.array(array, dtype=array.dtype.newbyteorder("<"), order="C")  # keeps 0-d arrays 0-d


def encode(kind: str, check: str = "", values: dict | None = None, error: str | None = None, **extra) -> bytes:
    """One record. Values that are not plain numbers or text make the record an error record."""
    header: dict = {"kind": kind, "check": check, "arrays": {}, "text": {}, **extra}
    chunks, offset = [], 0
    try:
        for key, value in (values or {}).items():
            sort, normal = _normalise(value)
            if sort == "text":
                header["text"][str(key)] = normal
            else:
                data = normal.tobytes()
                header["arrays"][str(key)] = {
                    "dtype": normal.dtype.str,
                    "shape": list(normal.shape),
                    "offset": offset,
                    "nbytes": len(data),
                }
                chunks.append(data)
                offset += len(data)
    except ValueError as exc:
        header["arrays"], header["text"], chunks = {}, {}, []
        error = f"the check's result `{key}` could not be sent: {exc}"
    if error is not None:
        header["error"] = " ".join(str(error).split())[:ERROR_CHARS]
    head = json.dumps(header).encode("utf-8")
    body = b"".join(chunks)
    return MAGIC + struct.pack(">I", len(head)) + head + struct.pack(">Q", len(body)) + body


@dataclass
class Record:
    kind: str
    check: str
    arrays: dict = field(default_factory=dict)  # key -> ndarray
    text: dict = field(default_factory=dict)  # key -> str | list[str]
    error: str | None = None
    extra: dict = field(default_factory=dict)

    def values(self) -> dict:
        return {**self.arrays, **self.text}


@dataclass
class Stream:
    """What a reader made of a run's bytes."""

    records: list[Record]
    malformed: bool = False  # something after the last good record was not a record


MAX_RECORDS = 10_000  # more than any module has checks; a flood of records stops being read here
# The only dtypes a record may name, little-endian or byte-order-free: anything else is malformed.
DTYPES = frozenset({"|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8"})


def decode(data: bytes, max_elements: int = 4_000_000) -> Stream:
    """Parse records until the data ends or stops making sense. Total: any bytes give a Stream (a
    malformed record ends the reading there), never an exception."""
    records: list[Record] = []
    position = 0
    try:
        data = bytes(data)
    except Exception:  # noqa: BLE001 - not bytes at all
        return Stream(records, malformed=True)
    while position < len(data):
        if len(records) >= MAX_RECORDS:
            return Stream(records, malformed=True)
        try:
            record, position = _decode_one(data, position, max_elements)
        except Exception:  # noqa: BLE001 - whatever the bytes make json or NumPy raise (RecursionError too)
            return Stream(records, malformed=True)
        records.append(record)
    return Stream(records)


def _whole(value, low: int = 0, high: int = 2**62) -> int:
    """`value` when it is a JSON integer in [low, high]; ValueError for floats, booleans, strings."""
    if type(value) is not int or not low <= value <= high:
        raise ValueError("not a whole number in range")
    return value


def _decode_one(data: bytes, position: int, max_elements: int) -> tuple[Record, int]:
    import numpy as np

    if data[position : position + 4] != MAGIC:
        raise ValueError("no record here")
    (head_length,) = struct.unpack_from(">I", data, position + 4)
    if head_length > MAX_HEADER_BYTES:
        raise ValueError("header too long")
    start = position + 8
    header = json.loads(data[start : start + head_length].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("header is not a mapping")
    (body_length,) = struct.unpack_from(">Q", data, start + head_length)
    body_start = start + head_length + 8
    body = data[body_start : body_start + body_length]
    if len(body) != body_length:
        raise ValueError("body cut short")
    arrays = {}
    specs = header.get("arrays") or {}
    if not isinstance(specs, dict):
        raise ValueError("arrays is not a mapping")
    for key, spec in specs.items():
        if not isinstance(spec, dict) or spec.get("dtype") not in DTYPES or not isinstance(spec.get("shape"), list):
            raise ValueError("array not allowed")
        dtype = np.dtype(spec["dtype"])
        if len(spec["shape"]) > 32:
            raise ValueError("too many dimensions")
        shape = tuple(_whole(n, 0, max_elements) for n in spec["shape"])
        count = 1
        for n in shape:
            count *= n
        offset, nbytes = _whole(spec.get("offset")), _whole(spec.get("nbytes"))
        if count > max_elements or nbytes != count * dtype.itemsize or offset + nbytes > len(body):
            raise ValueError("array outside the body")
        arrays[str(key)] = np.frombuffer(body, dtype=dtype, count=count, offset=offset).reshape(shape)
    text: dict[str, str | list[str]] = {}
    texts = header.get("text") or {}
    if not isinstance(texts, dict):
        raise ValueError("text is not a mapping")
    for key, value in texts.items():
        if isinstance(value, str):
            text[str(key)] = value[:MAX_TEXT_CHARS]
        elif isinstance(value, list) and len(value) <= MAX_TEXT_CHARS and all(isinstance(item, str) for item in value):
            text[str(key)] = [item[:MAX_TEXT_CHARS] for item in value]
        else:
            raise ValueError("text value not allowed")
    error = header.get("error")
    known = {"kind", "check", "arrays", "text", "error"}
    record = Record(
        kind=str(header.get("kind", ""))[:40],
        check=str(header.get("check", ""))[:200],
        arrays=arrays,
        text=text,
        error=None if error is None else str(error)[:ERROR_CHARS],
        extra={
            k: (v[:ERROR_CHARS] if isinstance(v, str) else v)
            for k, v in header.items()
            if k not in known and isinstance(v, (str, int, float))
        },
    )
    return record, body_start + body_length
