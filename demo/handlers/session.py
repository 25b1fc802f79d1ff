"""The visitor's state, and the page's start: which model, is it usable, its header line."""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field

import gradio as gr
import numpy as np
import torch

from unsir.methods import METHODS, configure
from unsir.methods.unsir import UnsirConfig
from unsir.training import device_name

from ..workspace import ARCH_NAMES, PREFERRED, Workspace, available_checkpoints, models_dir, workspace
from .features import FeatureEvidence

METHOD_LABELS = {name: method.label for name, method in METHODS.items()}


def on_phone(request: gr.Request | None) -> bool:
    """Whether the page asking is a phone's: its browser says "Mobi" in its user agent (MDN's advice for
    telling phones apart); the charts are then drawn narrow (demo/figures.py)."""
    return request is not None and "Mobi" in (request.headers.get("user-agent") or "")


def warn_untuned(methods, checkpoint: str) -> None:
    """A toast for each method whose settings were not found safe for this model (it still runs)."""
    arch = open_workspace(checkpoint).card["arch"]
    for name in methods:
        if caution := METHODS[name].caution(arch):
            gr.Warning(caution, title="Not tuned for this model")


LARGEST_SEED = 2**31 - 1


def checked_seed(seed) -> int:
    """The Seed field as a whole number, or a gr.Error saying what it takes (an emptied field arrives as None)."""
    if seed is None or seed != seed or not float(seed).is_integer() or not 0 <= seed <= LARGEST_SEED:
        raise gr.Error(f"Seed: enter a whole number from 0 to {LARGEST_SEED}, e.g. 0 (got {seed!r}).",
                       title="Check the seed")
    return int(seed)


def unsir_defaults(checkpoint: str) -> UnsirConfig:
    """UNSIR's defaults for this model's architecture (the Advanced panel shows them)."""
    return configure("unsir", open_workspace(checkpoint).card)


# --- the visitor's state ---------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One forget request of a session and the evidence it produced."""

    names: list[str]
    method: str
    report: dict  # the CLI report's keys, about everyone forgotten so far
    confidences: dict[str, dict[str, list[float]]]  # "original" / method -> Column confidence fields
    started_at: str  # ISO time
    finished_at: str = ""  # ISO time
    seconds: float = 0.0  # from the click to the results (the unlearning alone: the report's seconds)
    cams: tuple = ()  # figures.CamPhoto of a few forgotten and kept test photos
    noise: np.ndarray | None = None  # uint8 [people, images, H, W, 3] of UNSIR's noise shown
    kept: dict[str, tuple[float, float, int]] = field(default_factory=dict)  # kept person -> (before, after, photos)
    recognition: dict[str, dict] = field(default_factory=dict)  # "original" / method -> calibrated threshold
    features: FeatureEvidence | None = None  # the panel "still inside the model?"


@dataclass(frozen=True)
class Session:
    """One visitor's state. The base model is shared by everyone and never modified; this
    holds only the visitor's unlearned weights and what was asked."""

    checkpoint: str
    weights: dict[str, torch.Tensor] | None = None  # CPU state dict; None: nothing forgotten
    history: tuple[Request, ...] = ()
    # The weights before the last request, for Undo (one step back); None: the shipped model's.
    previous_weights: dict[str, torch.Tensor] | None = None
    samples_shown: int = 0  # held-out photos offered so far: the next click shows the next one
    retrained: dict[tuple, dict] = field(default_factory=dict)  # (checkpoint, forget set) -> retrain column
    export_dir: str | None = None

    @property
    def forgotten(self) -> list[str]:
        return self.history[-1].report["forget"] if self.history else []


def session_for(session: Session | None, checkpoint: str) -> Session:
    """The session, or a fresh one when the visitor switched model (caches are kept)."""
    if session is None:
        return Session(checkpoint)
    if session.checkpoint != checkpoint:
        return Session(checkpoint, retrained=session.retrained, export_dir=session.export_dir)
    return session


def discard_session(session: Session | None) -> None:
    """Delete the session's exported files when Gradio forgets the session."""
    if session is not None and session.export_dir:
        shutil.rmtree(session.export_dir, ignore_errors=True)


# --- starting the page -----------------------------------------------------------------


def default_checkpoint() -> str | None:
    return next(iter(available_checkpoints()), None)


def startup_problem() -> str | None:
    """Why the page cannot offer forgetting (no checkpoint, no data), with what to do; None if it can."""
    checkpoint = default_checkpoint()
    if checkpoint is None:
        command = f"unsir train --arch resnet18 --out {models_dir() / PREFERRED}"
        return (f"**No model checkpoint in `{models_dir()}`.** Train one (about 10 minutes on a CPU), then restart "
                f"the app:\n\n```bash\n{command}\n```\n\nor point `UNSIR_MODELS_DIR` at a folder of checkpoints.")
    try:
        workspace(checkpoint)
    except ValueError as error:  # DataError and ModelError say what to do
        return f"**The model `{checkpoint}` could not be loaded.** {error}"
    return None


def open_workspace(checkpoint: str) -> Workspace:
    try:
        return workspace(checkpoint)
    except ValueError as error:
        raise gr.Error(str(error), title="Model unavailable") from error


def model_facts(checkpoint: str) -> str:
    """The header line: which model, how good it was before forgetting, where it runs."""
    ws = open_workspace(checkpoint)
    card = ws.card
    return (f"**{ARCH_NAMES.get(card['arch'], card['arch'])}** trained on **{card['dataset']['name']}** "
            f"({len(ws.names)} people, {card['dataset']['n_train']} training photos) · original test accuracy "
            f"**{card['test_acc']:.1%}** (balanced {card['balanced_test_acc']:.1%}) · running on **{device_name()}**")
