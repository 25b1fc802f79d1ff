"""The app's compute thread (demo/compute.py): every torch computation of the app runs on one thread, so
that PyTorch's OpenMP keeps a single team of workers (more teams than cores make each one sleep between ops)."""
from __future__ import annotations

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from demo import compute

REQUEST = contextvars.ContextVar("request", default=None)


@compute.computes
def where(tag: str) -> tuple[str, str, bool]:
    return tag, threading.current_thread().name, compute.on_compute_thread()


@compute.computes
def steps(count: int):
    for step in range(count):
        yield step, threading.current_thread().name, REQUEST.get()


def test_callers_on_any_thread_reach_the_same_single_thread():
    with ThreadPoolExecutor(4) as callers:
        answers = list(callers.map(where, "abcdefgh"))
    assert [tag for tag, _, _ in answers] == list("abcdefgh")
    assert len({name for _, name, _ in answers}) == 1
    assert all(on_it for _, _, on_it in answers) and not compute.on_compute_thread()


def test_every_step_of_a_generator_runs_there_with_the_callers_context():
    REQUEST.set("visitor-1")  # Gradio finds a click's progress bar through such context
    produced = list(steps(3))
    assert [step for step, _, _ in produced] == [0, 1, 2]
    assert {name for _, name, _ in produced} == {where("x")[1]}
    assert {request for _, _, request in produced} == {"visitor-1"}


def test_a_call_made_there_runs_at_once_instead_of_waiting_for_itself():
    answered = []
    caller = threading.Thread(target=lambda: answered.append(compute.call(where, "nested")), daemon=True)
    caller.start()
    caller.join(timeout=60)  # waiting for itself would never return: a failure here, not a hung run
    assert answered and answered[0][2]  # where() calls compute.call again, on the compute thread


def test_errors_reach_the_caller():
    @compute.computes
    def refuse():
        raise ValueError("Unknown model 'x': choose one of a, b.")

    with pytest.raises(ValueError, match="Unknown model"):
        refuse()


def test_leaving_a_generator_early_closes_it_on_the_compute_thread():
    closed_on = []

    @compute.computes
    def long_work():
        try:
            yield from range(100)
        finally:
            closed_on.append(compute.on_compute_thread())

    work = long_work()
    assert next(work) == 0
    work.close()  # the visitor left
    assert closed_on == [True]


def forked_like_zero_gpu(results) -> None:
    """What a ZeroGPU worker does with a GPU function (spaces 0.51: a process forked from the caller's thread,
    the task run on a thread of the worker's own): here the task asks the compute thread for work."""
    with ThreadPoolExecutor(1) as workers:
        results.put(workers.submit(where, "in the fork").result())


@compute.computes
def fork_from_the_compute_thread():
    import multiprocessing

    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=forked_like_zero_gpu, args=(results,))
    child.start()
    try:
        return results.get(timeout=60)
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()


def test_a_forked_child_gets_a_compute_thread_of_its_own():
    """The child inherits the executor but not its thread: without a fresh one, ZeroGPU's worker would wait
    forever on the first computation it hands there (the app's Forget, Compare and Retrain all do)."""
    where("warm")  # the parent's compute thread exists before the fork, as in the running app
    tag, thread, on_compute = fork_from_the_compute_thread()
    assert tag == "in the fork" and thread.startswith("compute") and on_compute


def test_outside_zero_gpu_the_device_functions_run_on_the_compute_thread(monkeypatch):
    """Where the `spaces` package is installed but the Space has no ZeroGPU (SPACES_ZERO_GPU unset), spaces.GPU
    hands the function back unchanged: it must still run on the compute thread."""
    import types

    from demo import gpu

    unchanged = types.SimpleNamespace(GPU=lambda duration: lambda function: function)
    monkeypatch.setattr(gpu, "spaces", unchanged)

    @gpu.on_gpu(duration=60)
    def on_device() -> bool:
        return compute.on_compute_thread()

    assert on_device()


def test_no_device_function_asks_zero_gpu_for_longer_than_it_schedules():
    """ZeroGPU refuses a request over its longest call outright: Compare and Retrain asked for 900 and 600 s."""
    from demo import gpu

    with pytest.raises(ValueError, match="at most 300 s"):
        gpu.on_gpu(duration=301)
