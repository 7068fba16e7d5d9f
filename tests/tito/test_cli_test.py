"""`tito test MODULE ... | --all` and `tito export`, in-process."""

from __future__ import annotations

from course_builder import module_text


def test_test_exports_then_runs_one_module(fixture_course, tito):
    result = tito("test", "alpha")
    assert result.exit_code == 0, result.output
    assert (fixture_course.root / "tinytorch" / "alpha.py").exists()
    assert "All tests of 01_alpha passed: run `tito module complete 01` to record it." in result.output
    assert not (fixture_course.root / ".tito" / "progress.yaml").exists()  # testing records nothing


def test_test_all_runs_every_module_and_fails_if_one_fails(fixture_course, tito):
    fixture_course.write("modules/02_beta/beta.py", module_text("beta", body="return 3 * x"))
    result = tito("test", "--all")
    assert result.exit_code == 1
    assert "01_alpha" in result.output and "02_beta" in result.output
    assert "FAILED beta_double at modules/02_beta/beta.py:10: 2 tests" in result.output
    assert "tests/02_beta/test_beta.py::test_beta_double_of_three" in result.output
    assert "2 failed in the tests of 02_beta" in result.output


def test_test_needs_modules_or_all_but_not_both(fixture_course, tito):
    assert tito("test").exit_code == 2
    assert tito("test", "01", "--all").exit_code == 2
    unknown = tito("test", "nine")
    assert unknown.exit_code == 2 and "01_alpha, 02_beta" in unknown.output


def test_test_no_export_tests_the_package_as_it_is(fixture_course, tito):
    result = tito("test", "01", "--no-export")
    assert result.exit_code == 1  # nothing exported, so the package test cannot import
    assert "tests/01_alpha/test_alpha.py" in result.output


def test_export_writes_and_check_compares(fixture_course, tito):
    check = tito("export", "--check")
    assert check.exit_code == 1
    assert "differs: tinytorch/alpha.py" in check.output and "`tito export --all`" in check.output
    assert not (fixture_course.root / "tinytorch" / "alpha.py").exists()
    written = tito("export", "--all")
    assert written.exit_code == 0
    assert "01_alpha -> tinytorch/alpha.py (written)" in written.output
    assert tito("export", "--check").exit_code == 0
    assert "(unchanged)" in tito("export", "01").output


def test_export_usage_errors_exit_2(fixture_course, tito):
    assert tito("export", "01", "--all").exit_code == 2
    assert tito("export", "99").exit_code == 2


def test_export_of_a_broken_module_exits_1_writing_nothing(fixture_course, tito):
    fixture_course.write("modules/02_beta/beta.py", module_text("beta", body="return ("))
    result = tito("export", "--all")
    assert result.exit_code == 1
    assert "modules/02_beta/beta.py:" in result.output and "Nothing was written" in result.output
    assert not (fixture_course.root / "tinytorch" / "alpha.py").exists()


def test_a_failed_write_is_one_clear_error_and_the_old_file_stays(fixture_course, tito, monkeypatch):
    from tito import files

    assert tito("export", "01").exit_code == 0
    target = fixture_course.root / "tinytorch" / "alpha.py"
    old = target.read_bytes()
    fixture_course.write("modules/01_alpha/alpha.py", module_text("alpha", body="return x + x"))

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", disk_full)
    result = tito("export", "01")
    assert result.exit_code == 1
    assert "(No space left on device)" in result.output and "`tito export 01`" in result.output
    assert target.read_bytes() == old


def test_keyword_selects_tests_by_name(fixture_course, tito):
    result = tito("test", "01", "-k", "of_three")
    assert result.exit_code == 0
    assert "│ 01_alpha │      1 │" in result.output
