"""`tito system doctor`: its checks, and its exit code."""

from __future__ import annotations

from pathlib import Path

from tito import doctor
from tito.course import load_course

REPO = Path(__file__).resolve().parents[2]


def test_doctor_passes_on_a_healthy_exported_course(fixture_course, tito):
    fixture_course.export()
    result = tito("system", "doctor")
    assert result.exit_code == 0, result.output
    for name in ("Python", "NumPy", "BLAS", "Manifest", "Export", "Package", "Progress"):
        assert name in result.output
    assert "run `tito module status`" in result.output


def test_doctor_fails_on_a_corrupt_progress_file_and_a_tree_mismatch(fixture_course, tito):
    fixture_course.export()
    (fixture_course.root / ".tito").mkdir()
    (fixture_course.root / ".tito" / "progress.yaml").write_text("[1, 2\n")
    (fixture_course.root / "modules" / "05_stray").mkdir()
    result = tito("system", "doctor")
    assert result.exit_code == 1
    assert "2 check(s) failed (Manifest, Progress)" in result.output


def test_doctor_outside_a_course_fails_with_the_reason(tmp_path, monkeypatch, tito):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    result = tito("system", "doctor")
    assert result.exit_code == 1
    assert "No course.yaml found" in result.output


def test_avx512_cpu_with_haswell_kernels_is_a_warning_naming_the_fix(monkeypatch):
    monkeypatch.setattr(
        doctor, "blas_info", lambda: {"name": "scipy-openblas", "version": "0.3.31", "coretype": "Haswell"}
    )
    monkeypatch.setattr(doctor, "cpu_has_avx512", lambda: True)
    blas, avx = doctor.check_blas()
    assert blas.status == "ok" and "core type Haswell" in blas.detail
    assert avx.status == "warn" and "OPENBLAS_CORETYPE=SkylakeX" in avx.advice


def test_avx512_kernels_in_use_are_ok(monkeypatch):
    monkeypatch.setattr(doctor, "blas_info", lambda: {"name": "openblas", "coretype": "SkylakeX"})
    monkeypatch.setattr(doctor, "cpu_has_avx512", lambda: True)
    assert [c.status for c in doctor.check_blas()] == ["ok", "ok"]
    monkeypatch.setattr(doctor, "cpu_has_avx512", lambda: False)
    assert "no AVX-512" in doctor.check_blas()[1].detail


def test_the_blas_probe_reads_numpy_and_openblas():
    info = doctor.blas_info()
    assert info.get("name")  # numpy's build config always names its BLAS


def test_export_and_package_checks_count_the_same_files():
    """Both lines count generated files the exporter's way ("17 package files of 9 modules"), so they agree."""
    import re

    course = load_course(REPO)
    export_line, package_line = doctor.check_export(course).detail, doctor.check_package(course).detail
    counted = re.compile(r"(\d+) package files of (\d+) modules")
    assert counted.search(export_line).groups() == counted.search(package_line).groups()
    assert counted.search(export_line).group(2) == str(len(course.modules))
