"""The trackers (explorer/runner/trackers.py): what the device-time bracket holds, and the CPU memory definition."""

from __future__ import annotations

import time

import pytest
import torch

from explorer.runner.trackers import EnergyTracker, LatencyTracker, MemoryTracker, Trackers

MB = 1 << 20
FORWARD_S, SOFTMAX_S = 0.03, 0.02


def _touch(n_bytes: int) -> torch.Tensor:
    """A tensor of n_bytes whose pages are really resident."""
    return torch.ones(n_bytes // 4, dtype=torch.float32)


@pytest.fixture()
def slow_lm(monkeypatch):
    """The tiny model whose every forward sleeps FORWARD_S and whose log-softmax sleeps SOFTMAX_S."""
    from explorer.models.sources import load_model, parse_model
    from explorer.runner.timed_lm import TimedHFLM

    model, tok = load_model(parse_model("tiny-random-llama"), torch.float32, "cpu", log=lambda *_: None)
    model.register_forward_pre_hook(lambda *_: time.sleep(FORWARD_S))
    real = torch.nn.functional.log_softmax

    def slow_log_softmax(*args, **kwargs):
        time.sleep(SOFTMAX_S)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "log_softmax", slow_log_softmax)
    return TimedHFLM(pretrained=model, tokenizer=tok, batch_size=4, device="cpu")


def test_device_time_brackets_the_forward_and_lm_evals_log_softmax(slow_lm) -> None:
    import lm_eval

    from explorer.paths import sub_cache
    from explorer.tasks.offline import prepare_tasks, task_manager

    prepared = prepare_tasks(["explorer_arith"], None, sub_cache("tasks"))
    slow_lm.reset_counters()
    t0 = time.perf_counter()
    lm_eval.simple_evaluate(
        model=slow_lm,
        tasks=["explorer_arith"],
        limit=8,
        task_manager=task_manager(prepared.include_path),
        verbosity="ERROR",
    )
    wall_s = time.perf_counter() - t0
    calls = slow_lm.model_calls
    assert calls >= 2
    assert slow_lm.latency.count == 2 * calls  # one bracket per forward, one per log-softmax
    # every sleep is inside: at least calls x (forward + softmax); the tiny model's real work adds little
    assert calls * (FORWARD_S + SOFTMAX_S) <= slow_lm.device_s < calls * (FORWARD_S + SOFTMAX_S) + 0.5
    assert slow_lm.device_s < wall_s  # tokenization, bookkeeping and metrics stay outside


def test_latency_tracker_repeat_times_each_call() -> None:
    tracker = LatencyTracker("cpu")
    calls = []
    times = tracker.repeat(lambda: (calls.append(1), time.sleep(0.01)), warmup=2, repeats=3)
    assert len(calls) == 5 and len(times) == 3 and tracker.count == 3
    assert all(0.01 <= t < 0.2 for t in times) and tracker.total_s == pytest.approx(sum(times))


def test_cpu_peak_is_weights_plus_the_windows_working_set() -> None:
    with MemoryTracker("cpu", weight_bytes=100 * MB) as mem:
        block = _touch(200 * MB)
        del block
    assert mem.peak_mem_kind == "weights_plus_working_set"
    assert 298 * MB <= mem.peak_mem_bytes < 300 * MB + 40 * MB


def test_memory_kept_by_an_earlier_window_does_not_leak_into_the_next() -> None:
    with MemoryTracker("cpu", weight_bytes=0) as first:
        kept = _touch(300 * MB)  # e.g. a cache the previous task left allocated
    with MemoryTracker("cpu", weight_bytes=0) as second:
        block = _touch(50 * MB)
        del block
    alone = MemoryTracker("cpu", weight_bytes=0)
    del kept
    with alone:
        block = _touch(50 * MB)
        del block
    assert first.peak_mem_bytes >= 298 * MB
    assert 48 * MB <= second.peak_mem_bytes < 50 * MB + 40 * MB
    assert abs(second.peak_mem_bytes - alone.peak_mem_bytes) < 40 * MB  # the same task, either order


def test_an_inner_window_does_not_lower_the_outer_peak() -> None:
    with MemoryTracker("cpu") as outer:
        block = _touch(200 * MB)
        del block
        with MemoryTracker("cpu") as inner:
            small = _touch(20 * MB)
            del small
    assert 18 * MB <= inner.peak_mem_bytes < 60 * MB
    assert outer.peak_mem_bytes >= 198 * MB


def test_trackers_window_on_cpu_has_no_energy() -> None:
    with Trackers("cpu", EnergyTracker("cpu"), weight_bytes=MB) as win:
        time.sleep(0.01)
    assert win.energy_j is None and win.wall_s >= 0.01 and win.peak_mem_bytes >= MB


@pytest.mark.gpu
def test_cuda_inner_window_does_not_lower_the_outer_peak() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here")
    with MemoryTracker("cuda:0") as outer:
        block = torch.ones(256 * MB // 4, device="cuda:0")
        del block
        with MemoryTracker("cuda:0") as inner:
            small = torch.ones(16 * MB // 4, device="cuda:0")
            del small
    assert inner.peak_mem_bytes < 64 * MB <= 256 * MB <= outer.peak_mem_bytes
