"""The app's device function (`on_gpu`, demo/gpu.py) run in another process with its arguments and its result
pickled across, as Hugging Face ZeroGPU runs it, so that a Space never fails on a value that cannot travel (a
lock, a CUDA tensor, a figure bound to a canvas). Spawned here, so that nothing reaches it unpickled; ZeroGPU
forks, and tests/test_compute.py checks that a forked child still has a compute thread."""
from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import numpy as np
import torch

from demo import handlers
from demo.workspace import MODELS_DIR_VARIABLE
from unsir.checkpoints import weights_sha256
from unsir.forgetting import HeldOut
from unsir.methods import configure

CHECKPOINT = "resnet18-olivetti"
QUICK = {"retain_per_id": 2, "noise_steps": 3}  # seconds, not minutes, on a busy CPU


def ignore_progress(fraction: float, desc: str | None = None) -> None:
    """A progress callback that pickles (by name), standing in for Gradio's."""


def every_step(generator_function, *args) -> list:
    """What a generator yields, each step a value of its own (ZeroGPU iterates a generator in the GPU
    process and pickles each step it yields back)."""
    return list(generator_function(*args))


def in_spawned_process(function, *args):
    """`function(*args)` in a fresh spawned interpreter: arguments and result travel pickled, as under ZeroGPU."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply_async(function, args).get(timeout=600)  # a hang fails the test, not the whole run


def test_unlearn_runs_in_a_spawned_process_and_returns_picklable_cpu_results(olivetti_checkpoint, monkeypatch):
    monkeypatch.setenv(MODELS_DIR_VARIABLE, str(olivetti_checkpoint.parent))  # the spawned process inherits it
    card = handlers.open_workspace(CHECKPOINT).card
    config = configure("unsir", card, QUICK)
    *first, result = in_spawned_process(every_step, handlers.unlearn, CHECKPOINT, ["person_03"], "unsir", config, 0,
                                        None, [], ignore_progress)
    # UNSIR part-way (its noise, then the impaired model's held-out accuracies), then the first answer, each
    # travelling on its own before the rest
    assert [type(step) for step in first] == [handlers.Underway, handlers.Underway, HeldOut]
    noise, impaired, _ = first
    assert noise.noise.dtype == np.uint8 and noise.noise.shape[:2] == (1, noise.noise_per_person)
    assert impaired.held_out["n_forget_test"] == impaired.original["n_forget_test"] == 3  # Olivetti: 3 each
    assert isinstance(result, handlers.Unlearned)
    assert result.report["forget"] == ["person_03"] and result.cams and result.noise is not None
    assert all(tensor.device.type == "cpu" for tensor in result.weights.values())
    model = handlers.open_workspace(CHECKPOINT).model_with(result.weights, torch.device("cpu"))
    assert weights_sha256(model) == result.report["sha256"]["unsir"]  # the weights that came back are the unlearned


class SaysWhenStarted:
    """A progress callback that pickles and leaves a file at the retrain's first report, as a visitor sees it start."""

    def __init__(self, started: Path):
        self.started = started

    def __call__(self, fraction: float, desc: str | None = None) -> None:
        self.started.touch()


def test_cancel_reaches_a_retrain_running_in_another_process(olivetti_checkpoint, monkeypatch, tmp_path):
    """Under ZeroGPU the retrain trains in a process of its own: the visitor's Cancel, pressed in the app's
    process while it runs, must still stop it, and the page gets a plain value back rather than a worker error."""
    monkeypatch.setenv(MODELS_DIR_VARIABLE, str(olivetti_checkpoint.parent))

    class Visitor:
        session_hash = "visitor-in-another-process"

    started = tmp_path / "started"
    progress = handlers.stopping.cancellable(SaysWhenStarted(started), Visitor.session_hash)
    progress.flag.unlink(missing_ok=True)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        running = pool.apply_async(handlers.retrain.retrain_from_scratch, (CHECKPOINT, ["person_03"], 0, progress))
        deadline = time.monotonic() + 300
        while not started.exists() and not running.ready() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert started.exists() and not running.ready(), "the retrain never reported its start"
        # retrain_column, in the app's process, says this session's retrain is running
        monkeypatch.setitem(handlers.stopping.RUNNING, Visitor.session_hash, handlers.stopping.Run("retrain"))
        handlers.cancel_retrain(Visitor())
        try:
            assert running.get(timeout=300) is None  # cancelled: a finished retrain returns its report entry
        finally:
            progress.flag.unlink(missing_ok=True)
