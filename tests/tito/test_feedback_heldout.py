"""Locating on the held-out catalogue's bugs (benchmarks/feedback_heldout.py): the ranking's fixes.

The spectrum ranking in tito/pytest_plugins/calls.py blames the function called mostly by failing
tests. The held-out bugs showed where that misleads, and these tests pin the fixes, on `blame` itself
with made-up call records (which tests called which student functions, which failed):

- a bug in a function that many passing tests also call (an output-size formula wrong only with
  padding, the engine's gradient loop) made its callers look guiltier: one bug, up to 7 groups; now
  a suspect that every failing test called takes them all (and several wrong operations stay apart);
- an error raised inside a student's helper was blamed on its caller when the two tied.
"""

from __future__ import annotations

from tito.pytest_plugins.calls import Function, blame

PATH = "modules/09_alpha/alpha.py"
HOME = {PATH}


class Everything:
    """Every function is exported and written by the student; each `def` is on line 1."""

    def exported(self, function):
        return True

    def is_student(self, function):
        return True

    def def_line(self, function):
        return 1


def f(name: str) -> Function:
    return Function(PATH, name)


def run(failing_calls: dict, passing_calls: dict, exceptions=None, frames=None, checks=None):
    exceptions, frames, checks = exceptions or {}, frames or {}, checks or {}
    calls = {test: {f(name): depth for depth, name in enumerate(names)} for test, names in failing_calls.items()}
    calls |= {test: {f(name): depth for depth, name in enumerate(names)} for test, names in passing_calls.items()}
    failing = {
        test: {
            "frames": frames.get(test, []),
            "exception": exceptions.get(test, "AssertionError"),
            "checks": checks.get(test, []),
        }
        for test in failing_calls
    }
    return {
        test: suspect.function.name
        for test, suspect in blame(failing, set(passing_calls), calls, Everything(), HOME).items()
    }


def test_a_helper_that_passing_tests_also_call_takes_its_callers_failures():
    # output_size is wrong only with padding: its own padded cases fail, and so does every forward
    # test with padding, which the ranking alone blames on forward (fewer passing tests call it)
    failing = {f"size[{i}]": ["output_size"] for i in range(3)}
    failing |= {f"forward_padded[{i}]": ["forward", "output_size"] for i in range(4)}
    passing = {f"size_unpadded[{i}]": ["output_size"] for i in range(10)}
    passing |= {"forward_unpadded": ["forward", "output_size"]}
    blamed = run(failing, passing)
    assert set(blamed.values()) == {"output_size"}, blamed


def test_failures_spread_over_operations_go_to_the_engine_once_a_declared_test_names_it():
    # the engine overwrites instead of adding: tests of every operation fail and the ranking blames
    # each operation; a test declaring `checks("run_backward")` fails too and names the engine, which
    # every failing test went through
    ops = ["Add.backward", "Mul.backward", "Div.backward"]
    failing = {f"{op}-reused": ["run_backward", op] for op in ops} | {"engine-adds": ["run_backward", "Add.backward"]}
    passing = {f"{op}-{i}": ["run_backward", op] for op in ops for i in range(3)}
    passing |= {f"plain-{i}": ["run_backward"] for i in range(20)}
    blamed = run(failing, passing, checks={"engine-adds": ["run_backward"]})
    assert set(blamed.values()) == {"run_backward"}, blamed


def test_three_wrong_backward_rules_stay_three_groups():
    # the same calls, with no declared test failing: three operations are wrong, not the engine
    ops = ["Add.backward", "Mul.backward", "Div.backward"]
    failing = {f"{op}-{i}": ["run_backward", op] for op in ops for i in range(3)}
    passing = {f"plain-{i}": ["run_backward"] for i in range(20)}
    blamed = run(failing, passing)
    assert blamed == {test: test.split("-")[0] for test in failing}


def test_two_bugs_stay_two_groups_when_they_share_only_an_innocent_function():
    failing = {"sum[0]": ["Tensor.__init__", "Tensor.sum"], "sum[1]": ["Tensor.__init__", "Tensor.sum"]}
    failing |= {"mean[0]": ["Tensor.__init__", "Tensor.mean"]}
    passing = {f"other[{i}]": ["Tensor.__init__", "Tensor.max"] for i in range(5)}
    blamed = run(failing, passing)
    assert blamed == {"sum[0]": "Tensor.sum", "sum[1]": "Tensor.sum", "mean[0]": "Tensor.mean"}


def test_one_bug_in_a_caller_is_not_moved_to_the_helper_it_calls():
    failing = {f"forward[{i}]": ["forward", "output_size"] for i in range(4)}
    passing = {f"size[{i}]": ["output_size"] for i in range(10)}
    assert set(run(failing, passing).values()) == {"forward"}


def test_stubs_are_never_merged_into_a_common_function():
    stubs = ["relu", "sigmoid", "tanh"]
    failing = {f"test_{name}": ["as_tensor", name] for name in stubs}
    exceptions = {f"test_{name}": "NotImplementedError" for name in stubs}
    frames = {f"test_{name}": [(f(name), 5)] for name in stubs}
    blamed = run(failing, {}, exceptions, frames)
    assert blamed == {f"test_{name}": name for name in stubs}


def test_an_error_raised_in_a_students_helper_names_the_helper_not_its_caller():
    # cross_entropy calls _class_targets, which indexes with swapped arrays and raises IndexError;
    # the two are called by the same tests, so the ranking ties
    failing = {f"ce[{i}]": ["cross_entropy", "_class_targets"] for i in range(3)}
    passing = {f"ce_ok[{i}]": ["cross_entropy", "_class_targets"] for i in range(3)}
    frames = {test: [(f("cross_entropy"), 20), (f("_class_targets"), 9)] for test in failing}
    blamed = run(failing, passing, {test: "IndexError" for test in failing}, frames)
    assert set(blamed.values()) == {"_class_targets"}


def test_a_failed_assert_still_goes_to_the_outer_call_on_a_tie():
    failing = {f"ce[{i}]": ["cross_entropy", "_class_targets"] for i in range(3)}
    passing = {f"ce_ok[{i}]": ["cross_entropy", "_class_targets"] for i in range(3)}
    assert set(run(failing, passing).values()) == {"cross_entropy"}


def test_of_two_suspects_every_failing_test_called_the_one_the_errors_went_through_wins():
    # DataLoader.__iter__ passes swapped arguments to a given helper, which raises; get_batch, which
    # __iter__ called earlier, returned fine but ranks high on the spectrum
    failing = {f"loader[{i}]": ["DataLoader.__iter__", "get_batch"] for i in range(3)}
    failing |= {"batch": ["get_batch", "DataLoader.__iter__"]}
    passing = {f"loader_ok[{i}]": ["DataLoader.__iter__", "get_batch"] for i in range(6)}
    frames = {f"loader[{i}]": [(f("DataLoader.__iter__"), 7)] for i in range(3)}
    exceptions = {f"loader[{i}]": "TypeError" for i in range(3)}
    blamed = run(failing, passing, exceptions, frames, checks={"batch": ["get_batch"]})
    assert {blamed[f"loader[{i}]"] for i in range(3)} == {"DataLoader.__iter__"}, blamed
