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
