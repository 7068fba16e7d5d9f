"""Module 09's engine (tinytorch/nn/engine.py): slicing the batch and spreading slices over threads never changes a result."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from tinytorch import Tensor
from tinytorch.nn import AvgPool2d, BatchNorm2d, Conv2d, MaxPool2d, engine

pytestmark = pytest.mark.m09
ROOT = Path(__file__).resolve().parents[2]


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
    threads = engine.get_num_threads()
    yield
    engine.set_num_threads(threads)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("chunk_bytes", [1, 3000, 2**30])
def test_slices_and_threads_give_the_same_numbers(monkeypatch, restore_threads, threads, chunk_bytes):
    engine.set_num_threads(1)
    expected = run_layers()
    monkeypatch.setattr(engine, "CHUNK_BYTES", chunk_bytes)  # 1: every image is its own slice
    monkeypatch.setattr(engine, "SMALL_WORK_BYTES", 0)  # slice even this small batch
    engine.set_num_threads(threads)
    for got, want in zip(run_layers(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)  # float64: only the summing order differs


def test_thread_settings_are_checked(monkeypatch, restore_threads):
    with pytest.raises(ValueError, match="at least 1"):
        engine.set_num_threads(0)
    engine.set_num_threads(3)
    assert engine.get_num_threads() == 3
    monkeypatch.setenv("TINYTORCH_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="TINYTORCH_NUM_THREADS"):
        engine._threads_from_environment()
    monkeypatch.setenv("TINYTORCH_NUM_THREADS", "4")
    assert engine._threads_from_environment() == 4
    monkeypatch.delenv("TINYTORCH_NUM_THREADS")
    assert engine._threads_from_environment() == min(engine._available_cores(), 8)


def _blas_threads() -> list:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_blas_runs_single_threaded_inside_a_layer_and_gets_its_setting_back():
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        assert before and all(threads == 2 for threads in before)
        workers = engine._Workers(2)
        seen = workers.map(lambda start, stop: (start, stop, _blas_threads()), 5, 2)
        assert [(start, stop) for start, stop, _ in seen] == [(0, 2), (2, 4), (4, 5)], "results in slice order"
        assert all(threads == [1] * len(before) for _, _, threads in seen), "inside the layer BLAS has one thread"
        assert _blas_threads() == before, "and its own setting back afterwards"


def test_importing_and_running_the_layers_leaves_blas_threads_as_they_were():
    script = (
        "import json, numpy, threadpoolctl\n"
        "def blas(): return [p['num_threads'] for p in threadpoolctl.threadpool_info() if p['user_api'] == 'blas']\n"
        "threadpoolctl.threadpool_limits(limits=2, user_api='blas')\n"
        "seen = [blas()]\n"
        "from tinytorch.nn import Conv2d\nfrom tinytorch import Tensor\n"
        "seen.append(blas())\n"
        "conv = Conv2d(3, 8, 3, padding=1)\n"
        "x = Tensor(numpy.ones((4, 3, 8, 8), dtype=numpy.float32), requires_grad=True)\n"
        "conv(x).sum().backward()\n"
        "seen.append(blas())\n"
        "print(json.dumps(seen))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    before, after_import, after_layer = json.loads(result.stdout)
    assert before and before == [2] * len(before)
    assert after_import == before and after_layer == before


def test_worker_errors_reach_the_caller():
    workers = engine._Workers(2)

    def fail(start, stop):
        raise RuntimeError(f"slice {start}")

    with pytest.raises(RuntimeError, match="slice"):
        workers.map(fail, 4, 1)


def test_sliced_stitches_outputs_and_sums_the_shared_ones_in_slice_order(monkeypatch, restore_threads):
    monkeypatch.setattr(engine, "CHUNK_BYTES", 1)
    monkeypatch.setattr(engine, "SMALL_WORK_BYTES", 0)
    engine.set_num_threads(2)
    x = np.arange(10.0).reshape(5, 2)
    calls = []

    def kernel(part, scale):
        calls.append(len(part))
        return part * scale, None, part.sum(axis=0), np.ones(1, dtype=np.uint8)

    stitched, nothing, total, flags = engine.sliced(kernel, (x,), (3.0,), item_bytes=1, summed=(2,))
    assert sorted(calls) == [1] * 5, "one image per slice"
    assert np.array_equal(stitched, x * 3) and nothing is None and flags.shape == (5,) and flags.dtype == np.uint8
    assert np.array_equal(total, x.sum(axis=0))


def test_small_work_is_one_call_on_the_whole_batch(restore_threads):
    engine.set_num_threads(2)
    calls = []
    out = engine.sliced(lambda part: calls.append(len(part)) or part + 1, (np.zeros((64, 3)),), item_bytes=8)
    assert calls == [64] and out.shape == (64, 3)


def test_a_kernel_error_reaches_the_caller(monkeypatch, restore_threads):
    monkeypatch.setattr(engine, "CHUNK_BYTES", 1)
    monkeypatch.setattr(engine, "SMALL_WORK_BYTES", 0)
    engine.set_num_threads(2)

    def kernel(part):
        raise NotImplementedError("TinyTorch 09: implement conv2d_forward")

    with pytest.raises(NotImplementedError, match="conv2d_forward"):
        engine.sliced(kernel, (np.zeros((4, 2)),), item_bytes=1)


def test_the_engine_file_is_written_by_hand_and_imports_no_student_code():
    text = (ROOT / "tinytorch" / "nn" / "engine.py").read_text(encoding="utf-8")
    assert "AUTOGENERATED" not in text.splitlines()[0], "tito export and the release must treat it as given"
    assert "tinytorch.nn.kernels" not in text and "tinytorch.core" not in text, "kernels are passed in, not imported"
