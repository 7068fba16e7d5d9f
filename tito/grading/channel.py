"""The one way results leave a graded run: plain numbers in a framed stream, never a pickle.

A record is a JSON header and the raw bytes of its arrays:

    b"TTGR" | header length (4 bytes, big-endian) | header (UTF-8 JSON) | body length (8 bytes) | body

The header names the record's kind ("hello", "check", "refusal", "end"), the check, its text values
(strings or lists of strings), an error line, and for each array its dtype, shape and place in the
body. Only booleans, integers and floats of at most 8 bytes are accepted, so nothing in a record can
run code when it is read. The grader reads with hard limits (total bytes, header size, elements),
stops at the first malformed record and keeps what came before it.

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


def decode(data: bytes, max_elements: int = 4_000_000) -> Stream:
    """Parse records until the data ends or stops making sense; never raises on bad input."""
    records: list[Record] = []
    position = 0
    while position < len(data):
        try:
            record, position = _decode_one(data, position, max_elements)
        except (ValueError, KeyError, TypeError, struct.error, RecursionError):
            return Stream(records, malformed=True)
        records.append(record)
    return Stream(records)


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
    for key, spec in dict(header.get("arrays") or {}).items():
        dtype = np.dtype(str(spec["dtype"]))
        shape = tuple(int(n) for n in spec["shape"])
        count = int(np.prod(shape)) if shape else 1
        offset, nbytes = int(spec["offset"]), int(spec["nbytes"])
        if dtype.kind not in "biuf" or dtype.itemsize > 8 or min(shape, default=0) < 0 or count > max_elements:
            raise ValueError("array not allowed")
        if nbytes != count * dtype.itemsize or offset < 0 or offset + nbytes > len(body):
            raise ValueError("array outside the body")
        arrays[str(key)] = np.frombuffer(body, dtype=dtype, count=count, offset=offset).reshape(shape)
    text: dict[str, str | list[str]] = {}
    for key, value in dict(header.get("text") or {}).items():
        if isinstance(value, str):
            text[str(key)] = value[:MAX_TEXT_CHARS]
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            text[str(key)] = [item[:MAX_TEXT_CHARS] for item in value]
        else:
            raise ValueError("text value not allowed")
    error = header.get("error")
    known = {"kind", "check", "arrays", "text", "error"}
    record = Record(
        kind=str(header.get("kind", "")),
        check=str(header.get("check", "")),
        arrays=arrays,
        text=text,
        error=None if error is None else str(error)[:ERROR_CHARS],
        extra={k: v for k, v in header.items() if k not in known and isinstance(v, (str, int, float))},
    )
    return record, body_start + body_length
