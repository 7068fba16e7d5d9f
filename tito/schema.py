"""A small declarative checker for the two YAML files tito reads: course.yaml and progress.yaml.

Each file's shape is written as a table (see COURSE in course.py and PROGRESS in progress_store.py):

    Record({"id": Field(TEXT, required=True), "hours": Field(NUMBER)})

`check(value, spec)` walks a loaded document against its table and raises SchemaError naming the
first thing that is wrong, where it is (`modules[2].requires`, and the line when the document was
loaded with `load_yaml`), and, for a key the table does not know, the nearest key it does know.
It stays small because the two files are small and their rules are few; a library such as pydantic
would add a dependency and a second way of saying what the dataclasses in course.py say.

Every value is walked, never skipped, and the only open-ended value is a flat SCALAR, so a file of
YAML aliases that expands exponentially (a "billion laughs") fails the check instead of being
copied when the record is written back.
"""

from __future__ import annotations

import difflib
import math
import reprlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml


class SchemaError(Exception):
    """What is wrong in a document, with where: `str(error)` is one sentence, `line` the line or 0."""

    def __init__(self, message: str, line: int = 0):
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Kind:
    """A leaf value: its name as a message says it ("a number") and the test it must pass."""

    name: str
    test: Callable[[Any], bool]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value) -> bool:
    return _number(value) and math.isfinite(value)


TEXT = Kind("a text", lambda v: isinstance(v, str))
MAX_LINE = 200  # characters in a title or a name


def _printable_line(v: object) -> bool:
    """No control characters: an escape sequence would drive the terminal the text is shown in."""
    return isinstance(v, str) and len(v) <= MAX_LINE and not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in v)


LINE = Kind(f"a text of at most {MAX_LINE} printable characters, no control characters", _printable_line)
WHOLE = Kind("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool))
COUNT = Kind("a whole number >= 0", lambda v: WHOLE.test(v) and v >= 0)
NUMBER = Kind("a number", _number)
POSITIVE = Kind("a finite number > 0", lambda v: _finite(v) and v > 0)
NOT_NEGATIVE = Kind("a finite number >= 0", lambda v: _finite(v) and v >= 0)
FLAG = Kind("true or false", lambda v: isinstance(v, bool))
SCALAR = Kind("a text, a number, true, false or null", lambda v: v is None or isinstance(v, (str, int, float, bool)))


def one_of(*values) -> Kind:
    return Kind("one of " + ", ".join(map(str, values)), lambda v: isinstance(v, str) and v in values)


def matching(name: str, test: Callable[[str], bool]) -> Kind:
    """A text that passes `test`, described as `name` ("two digits in quotes, like \"01\"")."""
    return Kind(name, lambda v: isinstance(v, str) and test(v))


@dataclass(frozen=True)
class Field:
    spec: Any  # a Kind, Record, ListOf or MapOf
    required: bool = False


@dataclass(frozen=True)
class Record:
    """A mapping with known keys. Any other key is an error, unless `rest` says what it may hold."""

    fields: dict[str, Field]
    rest: Any = None
    name: str = "a mapping"


@dataclass(frozen=True)
class ListOf:
    item: Any
    name: str = "a list"


@dataclass(frozen=True)
class MapOf:
    """A mapping whose keys pass `keys` and whose values all follow `value`."""

    value: Any
    keys: Kind = TEXT
    name: str = "a mapping"


def check(value, spec, where: str = "the file") -> None:
    """Raise SchemaError for the first place `value` does not follow `spec`; return None if it does."""
    _check(value, spec, where, None, None)


def _check(value, spec, where, parent, key) -> None:
    if isinstance(spec, Kind):
        if not spec.test(value):
            _fail(f"{where} must be {spec.name}, not {_show(value)}", parent, key)
    elif isinstance(spec, ListOf):
        if not isinstance(value, list):
            _fail(f"{where} must be {spec.name}, not {_show(value)}", parent, key)
        for index, item in enumerate(value):
            _check(item, spec.item, f"{where}[{index}]", parent, key)
    elif isinstance(spec, MapOf):
        _mapping(value, spec, where, parent, key)
        for name, item in value.items():
            if not spec.keys.test(name):
                _fail(f"{where} has the key {_show(name)}, which must be {spec.keys.name}", value, name)
            _check(item, spec.value, f"{where}[{name!r}]", value, name)
    elif isinstance(spec, Record):
        _mapping(value, spec, where, parent, key)
        _record(value, spec, where)
    else:  # pragma: no cover - a mistake in a table, not in a document
        raise TypeError(f"not a schema: {spec!r}")


def _mapping(value, spec, where, parent, key) -> None:
    if not isinstance(value, dict):
        _fail(f"{where} must be {spec.name}, not {_show(value)}", parent, key)


def _record(value: dict, spec: Record, where: str) -> None:
    """Unknown keys first (a misspelt required key is reported as the typo), then each field."""
    prefix = "" if where == "the file" else f"{where}."
    if spec.rest is None:
        for name in value:
            if name not in spec.fields:
                known = list(spec.fields)
                close = difflib.get_close_matches(str(name), known, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"the known keys are {', '.join(known)}"
                label = name if isinstance(name, str) and name.isidentifier() else _show(name)
                _fail(f"{prefix}{label} is not a known key ({hint})", value, name)
    for name, rule in spec.fields.items():
        if name in value:
            _check(value[name], rule.spec, f"{prefix}{name}", value, name)
        elif rule.required:
            _fail(f"{where} is missing '{name}'", value, None)
    if spec.rest is not None:
        for name in value:
            if name not in spec.fields:
                _check(value[name], spec.rest, f"{prefix}{name}", value, name)


def _fail(message: str, mapping, key) -> None:
    raise SchemaError(message, line_of(mapping, key))


class _ShortRepr(reprlib.Repr):
    repr__Mapping = reprlib.Repr.repr_dict  # reprlib finds methods by type name; ours is _Mapping


_SHORT = _ShortRepr()
_SHORT.maxlevel, _SHORT.maxdict, _SHORT.maxlist, _SHORT.maxstring, _SHORT.maxother = 2, 3, 3, 36, 36


def _show(value) -> str:
    """A short repr for a message: one line, and bounded work even for a huge nested value."""
    return _SHORT.repr(value)


# --- loading YAML with line numbers ------------------------------------------------------------


class _Mapping(dict):
    """A loaded mapping that remembers the line it started on and the line of each key."""

    line: int = 0
    key_lines: dict


class _LineLoader(yaml.SafeLoader):
    """The safe loader, whose mappings remember where their keys were written."""


def _refuse_duplicate_keys(loader, node) -> None:
    """A key written twice in one mapping is refused: YAML would silently keep the last value.
    (Keys a `<<` merge brings in may be overridden, as YAML intends.)"""
    seen: dict = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
            continue
        key = loader.construct_object(key_node)
        try:
            first = seen.get(key)
        except TypeError:
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {_show(key)} is written twice (first at line {first})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line + 1


def _construct_mapping(loader, node, deep=False):
    _refuse_duplicate_keys(loader, node)
    loader.flatten_mapping(node)
    mapping = _Mapping()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key is a list or mapping, not a name", key_node.start_mark
            ) from None
        mapping[key] = loader.construct_object(value_node, deep=deep)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def line_of(mapping, key=None) -> int:
    if isinstance(mapping, _Mapping):
        if key is not None and key in mapping.key_lines:
            return mapping.key_lines[key]
        return mapping.line
    return 0


def load_yaml(text: str):
    """Parse one YAML document (safe tags only); SchemaError says why and where when it cannot."""
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None)
        if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow, such as NUL
            line = text.count("\n", 0, exc.position) + 1
            raise SchemaError(
                f"not valid YAML (it holds the character U+{exc.character:04X}, which YAML does not allow)", line
            ) from None
        raise SchemaError(f"not valid YAML ({problem or 'unparsable text'})", mark.line + 1 if mark else 0) from None
    except RecursionError:
        raise SchemaError("not valid YAML (nested too deeply)") from None
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:  # a tagged value such as `2025-13-45`
        raise SchemaError(f"not valid YAML (a value cannot be read: {_show(str(exc))[1:-1]})") from None
