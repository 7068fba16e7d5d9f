"""Module 09: slicing the batch and spreading slices over threads never changes a result."""

import numpy as np
import pytest

from tinytorch.core import spatial
from tinytorch.core.spatial import AvgPool2d, BatchNorm2d, Conv2d, MaxPool2d
from tinytorch.core.tensor import Tensor

pytestmark = pytest.mark.m09


def run_layers(seed=0):
    """Outputs and gradients of a conv / batch norm / pools stack on a small batch."""
    rng = np.random.default_rng(seed)
    conv = Conv2d(3, 5, kernel_size=3, stride=(1, 2), padding=1).double()
    bn, maxpool, avgpool = BatchNorm2d(5).double(), MaxPool2d(3, stride=2, padding=1), AvgPool2d(2)
    conv.weight.data[...] = rng.standard_normal(conv.weight.shape)
    x = Tensor(rng.standard_normal((7, 3, 9, 8)), requires_grad=True, dtype=np.float64)
    hidden = bn(conv(x))
    out = maxpool(hidden) * 2 + avgpool(hidden).sum()
    out.backward(rng.standard_normal(out.shape))
    return [out.data, x.grad.data, conv.weight.grad.data, conv.bias.grad.data, bn.weight.grad.data, bn.running_var.data]


@pytest.fixture
def restore_threads():
    threads = spatial.get_num_threads()
    yield
    spatial.set_num_threads(threads)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("chunk_bytes", [1, 3000, 2**30])
def test_slices_and_threads_give_the_same_numbers(monkeypatch, restore_threads, threads, chunk_bytes):
    spatial.set_num_threads(1)
    expected = run_layers()
    monkeypatch.setattr(spatial, "CHUNK_BYTES", chunk_bytes)  # 1: every image is its own slice
    spatial.set_num_threads(threads)
    for got, want in zip(run_layers(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)  # float64: only the summing order differs


def test_thread_settings_are_checked(monkeypatch, restore_threads):
    with pytest.raises(ValueError, match="at least 1"):
        spatial.set_num_threads(0)
    spatial.set_num_threads(3)
    assert spatial.get_num_threads() == 3
    monkeypatch.setenv("TINYTORCH_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="TINYTORCH_NUM_THREADS"):
        spatial._threads_from_environment([])
    monkeypatch.setenv("TINYTORCH_NUM_THREADS", "4")
    assert spatial._threads_from_environment([]) == 4
    monkeypatch.delenv("TINYTORCH_NUM_THREADS")
    assert spatial._threads_from_environment([]) == 1, "without control over BLAS threads, one thread"


def test_blas_runs_single_threaded_inside_the_layers_and_gets_its_setting_back():
    calls = []
    setting = {"threads": 4}

    def get():
        return setting["threads"]

    def set_(threads):
        calls.append(threads)
        setting["threads"] = threads

    workers = spatial._Workers([(get, set_)])
    workers.set_threads(2)
    assert setting["threads"] == 1, "with our threads on the cores, BLAS gets one"
    seen = workers.map(lambda start, stop: (start, stop, setting["threads"]), 5, 2)
    assert seen == [(0, 2, 1), (2, 4, 1), (4, 5, 1)], "results in slice order"
    workers.set_threads(1)
    assert setting["threads"] == 4, "one thread here: BLAS has its own threads back"
    calls.clear()
    assert workers.map(lambda start, stop: setting["threads"], 4, 2) == [1, 1], "but slices multiply on one"
    assert calls == [1, 4] and setting["threads"] == 4


def test_worker_errors_reach_the_caller():
    workers = spatial._Workers([])
    workers.set_threads(2)

    def fail(start, stop):
        raise RuntimeError(f"slice {start}")

    with pytest.raises(RuntimeError, match="slice"):
        workers.map(fail, 4, 1)


def test_scratch_arrays_are_reused():
    workers = spatial._Workers([])
    first = workers.scratch("buffer", (4, 5), np.float32)
    again = workers.scratch("buffer", (2, 3), np.float32)
    assert again.base is first.base, "a smaller request reuses the same memory"
    assert workers.scratch("buffer", (10, 10), np.float32).base is not first.base
