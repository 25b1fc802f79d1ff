"""The checkpoints on offer and, per checkpoint, what every session shares.

The base model is loaded once per checkpoint and never modified; its predictions and
GradCAMs are computed once and reused by every click of every visitor.
"""
from __future__ import annotations

import copy
import logging
import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from unsir.checkpoints import CARD, CARD_FIELDS, WEIGHTS, read_card, weights_sha256
from unsir.nets import ModelError
from unsir.evaluation import Predictions, frozen_start
from unsir.features import FrozenStart
from unsir.pipeline import Loaded, load, load_strangers_for

from .compute import call, computes, submit

if TYPE_CHECKING:
    from unsir.explain import Explanation

MODELS_DIR_VARIABLE = "UNSIR_MODELS_DIR"
PREFERRED = "resnet18-lfw100"  # shown first: the fastest to unlearn on a CPU
ARCH_NAMES = {"resnet18": "ResNet18", "vit": "ViT"}
# What the page shows of a card, on top of what loading needs.
SHOWN_FIELDS = {"test_acc": (int, float), "balanced_test_acc": (int, float), "seconds": (int, float), "device": str,
                "recipe": dict}
CPU = torch.device("cpu")


def models_dir() -> Path:
    """$UNSIR_MODELS_DIR, else `models/` beside app.py."""
    return Path(os.environ.get(MODELS_DIR_VARIABLE) or Path(__file__).resolve().parents[1] / "models")


def available_checkpoints() -> dict[str, str]:
    """{folder name: label} of every complete checkpoint in the models folder, preferred first. The label names
    the model in a phone's width; the folder name joins it only where two checkpoints would read alike."""
    folder = models_dir()
    found = {}
    if folder.is_dir():
        for sub in sorted(folder.iterdir()):
            if (sub / CARD).is_file() and (sub / WEIGHTS).is_file():
                try:
                    card = read_card(sub, CARD_FIELDS | SHOWN_FIELDS)
                except ModelError as error:  # one broken checkpoint must not take the others down
                    logging.getLogger(__name__).warning("Skipping %s: %s", sub, error)
                    continue
                found[sub.name] = (f"{ARCH_NAMES.get(card['arch'], card['arch'])} · {card['dataset']['name']}, "
                                   f"{len(card['identities'])} people")
    alike = Counter(found.values())
    found = {name: f"{label} ({name})" if alike[label] > 1 else label for name, label in found.items()}
    return dict(sorted(found.items(), key=lambda item: item[0] != PREFERRED))


class Workspace:
    """A checkpoint with its data, loaded on the CPU; `model` is never trained or modified. What it computes,
    it computes on the compute thread (demo/compute.py), one request at a time."""

    def __init__(self, loaded: Loaded):
        self.loaded = loaded
        self.strangers = load_strangers_for(loaded)
        self._predictions: Predictions | None = None
        self._start: FrozenStart | None = None
        self._cams: dict[int, Explanation] = {}
        labels = self.split.train.labels
        first = [int((labels == c).nonzero()[0]) for c in range(len(self.names))]
        images = self.split.train.images[first].permute(0, 2, 3, 1).numpy()
        self._thumbnails = [(image, name.replace("_", " ")) for image, name in zip(images, self.names)]

    @property
    def model(self) -> nn.Module:
        return self.loaded.model

    @property
    def card(self) -> dict:
        return self.loaded.card

    @property
    def split(self):
        return self.loaded.split

    @property
    def names(self) -> list[str]:
        return self.loaded.split.names

    @computes
    def predictions(self, device: torch.device = CPU) -> Predictions:
        """The base model's logits on every photo (computed once, then shared), from its outputs where UNSIR
        starts learning (the same numbers bit for bit): the warm-up computes both, so no click runs them."""
        start = self.frozen_start(device)
        if self._predictions is None:
            model = self.model_with(None, device)
            self._predictions = Predictions.of(model, self.split, self.strangers, start=start,
                                               weights_hash=weights_sha256(model))
        return self._predictions

    @computes
    def frozen_start(self, device: torch.device = CPU) -> FrozenStart | None:
        """The base model's outputs where UNSIR starts learning (computed once, then shared): each
        unlearned model is then evaluated by running only the blocks that learned."""
        if self._start is None:
            self._start = frozen_start(self.model_with(None, device), self.card, self.split, self.strangers)
        return self._start

    @computes
    def original_cams(self, test_indices: list[int], device: torch.device = CPU) -> list[Explanation]:
        """The base model's GradCAM of these test photos (each computed once)."""
        from unsir.explain import gradcam  # see handlers.cam_photos: imported late to serve the page sooner

        missing = [i for i in test_indices if i not in self._cams]
        if missing:
            # GradCAM hooks into the model it explains and backpropagates into its weights: a private
            # copy leaves the shared base model without hooks or gradients.
            explained = gradcam(copy.deepcopy(self.model).to(device), self.split.test.images[missing])
            self._cams.update(zip(missing, explained))
        return [self._cams[i] for i in test_indices]

    @computes
    def model_with(self, weights: dict[str, torch.Tensor] | None, device: torch.device) -> nn.Module:
        """The base model (weights None) or a copy holding a session's weights, on `device`."""
        if weights is None and device == CPU:
            return self.model
        model = copy.deepcopy(self.model)
        if weights is not None:
            model.load_state_dict(weights)
        return model.to(device).eval()

    def thumbnails(self) -> list[tuple[np.ndarray, str]]:
        """One training photo per identity, captioned with the name (picked at loading, so that showing them
        never waits for the compute thread)."""
        return self._thumbnails

    def warm_up(self) -> None:
        """Compute the base model's predictions (and its frozen start) on the compute thread now, so the
        first click need not wait."""
        submit(self.predictions)


_workspaces: dict[str, Workspace] = {}  # written on the compute thread only


def workspace(checkpoint: str) -> Workspace:
    """The shared workspace of a checkpoint in the models folder, loaded on first use."""
    offered = available_checkpoints()
    if checkpoint not in offered:
        choices = ", ".join(offered) or "none (the models folder is empty)"
        raise ValueError(f"Unknown model {checkpoint!r}: choose one of {choices}.")
    loaded = _workspaces.get(checkpoint)
    return loaded if loaded is not None else call(_open, checkpoint)


def _open(checkpoint: str) -> Workspace:
    if checkpoint not in _workspaces:  # another request may have loaded it while this one queued
        _workspaces[checkpoint] = Workspace(load(models_dir() / checkpoint, device=CPU))
        _workspaces[checkpoint].warm_up()
    return _workspaces[checkpoint]
