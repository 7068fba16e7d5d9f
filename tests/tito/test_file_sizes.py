"""Small files with one job: no Python file of tito or of the tinytorch package is over 400 lines."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIMIT = 400


def test_no_file_of_tito_or_tinytorch_is_over_400_lines():
    sizes = {
        path.relative_to(REPO).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for folder in ("tito", "tinytorch")
        for path in (REPO / folder).rglob("*.py")
    }
    assert sizes, "no files found"
    assert {name: lines for name, lines in sizes.items() if lines > LIMIT} == {}
