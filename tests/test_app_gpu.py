"""The app's device function (`on_gpu`, demo/gpu.py) run the way Hugging Face ZeroGPU runs it: in
another, spawned process, its arguments and its result pickled across, so that a Space never
fails on a value that cannot travel (a lock, a CUDA tensor, a figure bound to a canvas)."""
from __future__ import annotations

import multiprocessing

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
        return pool.apply(function, args)


def test_unlearn_runs_in_a_spawned_process_and_returns_picklable_cpu_results(olivetti_checkpoint, monkeypatch):
    monkeypatch.setenv(MODELS_DIR_VARIABLE, str(olivetti_checkpoint.parent))  # the spawned process inherits it
    card = handlers.open_workspace(CHECKPOINT).card
    config = configure("unsir", card, QUICK)
    *first, result = in_spawned_process(every_step, handlers.unlearn, CHECKPOINT, ["person_03"], "unsir", config, 0,
                                        None, [], ignore_progress)
    assert [type(step) for step in first] == [HeldOut]  # the first answer travels on its own, before the rest
    assert isinstance(result, handlers.Unlearned)
    assert result.report["forget"] == ["person_03"] and result.cams and result.noise is not None
    assert all(tensor.device.type == "cpu" for tensor in result.weights.values())
    model = handlers.open_workspace(CHECKPOINT).model_with(result.weights, torch.device("cpu"))
    assert weights_sha256(model) == result.report["sha256"]["unsir"]  # the weights that came back are the unlearned
