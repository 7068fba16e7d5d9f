"""The line map a generated file ends with: written, read back, and used to map locations."""

from __future__ import annotations

from tito import linemap


def test_pairs_compress_into_runs_and_read_back():
    pairs = [(10, 31), (11, 32), (12, 33), (15, 40), (20, 90), (21, 91)]
    runs = linemap.runs_from_pairs(pairs)
    assert runs == ((10, 12, 31), (15, 15, 40), (20, 21, 90))
    text = "x = 1\n" + linemap.format_map("modules/01_tensor/tensor.py", runs)
    parsed = linemap.parse_map(text)
    assert parsed.source == "modules/01_tensor/tensor.py"
    assert [parsed.module_line(n) for n in (10, 12, 13, 15, 21, 22)] == [31, 33, None, 40, 91, None]


def test_a_long_map_wraps_and_still_reads_back():
    runs = tuple((i * 10, i * 10 + 3, i * 7) for i in range(1, 60))
    text = linemap.format_map("modules/09_spatial/spatial.py", runs)
    assert len(text.splitlines()) > 1 and all(len(line) <= linemap.WIDTH + 12 for line in text.splitlines())
    assert linemap.parse_map(text).runs == runs


def test_source_location_maps_a_generated_file_and_leaves_others(tmp_path):
    generated = tmp_path / "tensor.py"
    generated.write_text("a = 1\nb = 2\n" + linemap.format_map("modules/01_tensor/tensor.py", ((1, 2, 40),)))
    assert linemap.source_location(generated, 2) == ("modules/01_tensor/tensor.py", 41)
    assert linemap.source_location(generated, 3) == (str(generated), 3), "an unmapped line stays where it is"
    plain = tmp_path / "test_x.py"
    plain.write_text("assert True\n")
    assert linemap.source_location(plain, 1) == (str(plain), 1)
