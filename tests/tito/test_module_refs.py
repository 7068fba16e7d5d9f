"""A module is named by ASCII digits, its slug or NN_slug. Other digits Python can read ("٣" is 3 to
int()) or cannot ("①" raised ValueError) name no module: exit 2 with the valid names, nothing touched."""

from __future__ import annotations

import stat

import pytest

REFS = {
    "circled one": "①",
    "Arabic-Indic three": "٢",
    "fullwidth one": "１",
    "superscript one": "¹",
    "mathematical bold one": "𝟏",
    "a decimal": "1.0",
    "a sign": "+1",
    "hexadecimal": "0x1",
    "a slug with a fullwidth letter": "ａlpha",
    "empty": "",
    "an escape sequence": "\x1b[31m01",
}
COMMANDS = (
    ("module", "start"),
    ("module", "complete"),
    ("module", "reset", "--yes"),
    ("test",),
    ("export",),
)


def snapshot(root) -> dict:
    return {
        path.relative_to(root).as_posix(): (
            stat.S_IMODE(path.lstat().st_mode),
            path.read_bytes() if path.is_file() else None,
        )
        for path in sorted(root.rglob("*"))
        if "__pycache__" not in path.parts
    }


def test_the_course_finds_ascii_numbers_only(fixture_course):
    course = fixture_course.course
    for key in ("2", "02", "002", " 2 ", "beta", "BETA", "02_beta"):
        assert course.module(key).id == "02"
    for key in REFS.values():
        with pytest.raises(KeyError):
            course.module(key)


@pytest.mark.parametrize("case", sorted(REFS))
def test_a_reference_that_is_not_a_module_name_exits_2_listing_the_names(fixture_course, tito, case):
    fixture_course.export()
    fixture_course.write(".tito/progress.yaml", "schema: 1\nmodules: {}\nmilestones: {}\nhistory: []\n")
    before = snapshot(fixture_course.root)
    for command in COMMANDS:
        args = [*command[:2], REFS[case], *command[2:]] if command[0] == "module" else [*command, REFS[case]]
        result = tito(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert lines[0].startswith(f"Error: No module {REFS[case]!r}; the valid names are 01_alpha, 02_beta")
        assert lines[0].endswith("run `tito module list` to see them.")
        assert snapshot(fixture_course.root) == before, args
