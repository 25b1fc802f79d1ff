"""One thread runs the app's torch work.

PyTorch's OpenMP (libgomp on Linux) keeps a team of worker threads for every thread that has run a
parallel op, and once the teams together hold more threads than the machine has cores, every team
stops spin-waiting between ops and sleeps instead: each small op then waits for its workers to wake.
The app ran torch on the main thread (loading), a warm-up thread and Gradio's worker threads (each step
of a streamed event may run on another one), so on the 2-core CPU a click's two compute threads ran
82 % and 61 % of the time (about 97 % and 91 % in a plain script) and UNSIR took longer than the same
call in a plain script. Here every torch computation of the app runs on one thread
(benchmarks/APP_VERSIONS.md: 80 % for the worker, UNSIR 15 % faster).
"""
from __future__ import annotations

import contextvars
import functools
import inspect
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

_here = threading.local()


def _mark_thread() -> None:
    _here.compute = True


def _new_worker() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="compute", initializer=_mark_thread)


_worker = _new_worker()


def _after_fork_in_child() -> None:
    """A forked child (ZeroGPU runs each GPU call in one) inherits the executor but not its thread: work queued
    there would wait forever. The child gets a compute thread of its own, and the thread that forked is no
    longer the compute thread."""
    global _worker
    _worker = _new_worker()
    _here.__dict__.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def on_compute_thread() -> bool:
    return getattr(_here, "compute", False)


def submit(function: Callable, *args, **kwargs) -> Future:
    """Queue function(*args, **kwargs) on the compute thread, with the caller's context (Gradio's progress
    bar finds its event there)."""
    context = contextvars.copy_context()
    return _worker.submit(context.run, function, *args, **kwargs)


def call(function: Callable, *args, **kwargs):
    """function(*args, **kwargs) on the compute thread, waiting for it (at once when already there)."""
    if on_compute_thread():
        return function(*args, **kwargs)
    return submit(function, *args, **kwargs).result()


def computes(function: Callable) -> Callable:
    """Decorator: the function runs on the compute thread; a generator function, each of its steps."""
    if inspect.isgeneratorfunction(function):
        @functools.wraps(function)
        def steps(*args, **kwargs):
            iterator = function(*args, **kwargs)  # runs nothing until its first step
            done = object()
            try:
                while (step := call(next, iterator, done)) is not done:
                    yield step
            finally:
                call(iterator.close)  # a visitor who leaves stops the work where it is
        return steps

    @functools.wraps(function)
    def run(*args, **kwargs):
        return call(function, *args, **kwargs)
    return run
