"""Bad Teacher: distil the original on kept photos and an incompetent teacher on forgotten ones. NOT zero-glance.

Paper: Chundawat, Tarun, Mandal, Kankanhalli, "Can Bad Teaching Induce Forgetting? Unlearning in
Deep Networks Using an Incompetent Teacher", AAAI 2023 (UNSIR's authors). Reference:
github.com/vikram2000b/bad-teaching-unlearning (`unlearn.py`: `UnlearnerLoss`, `blindspot_unlearner`;
the notebook's settings: Adam 1e-4, one epoch, batch 256, T = 1, 30 % of the retain set).

A copy of the original (the student) is trained on forgotten and kept photos mixed: on a kept photo
it matches the original's softened outputs, on a forgotten one those of a randomly initialised
model of the same architecture (the incompetent teacher); KL divergence, both teachers frozen in
eval mode.

Changed from the reference, and why:
- The KL is averaged per photo (`batchmean`); the reference's `F.kl_div` default also divides by
  the number of classes, which only rescales the loss (Adam is insensitive to that).
- The kept photos are a seeded subset of `retain_per_id` per person (10, about a third of
  LFW-100's kept photos, as the reference's 30 %), every forgotten photo, batch 64 (a batch of 256
  would be four steps here); epochs and rate from the sweep (benchmarks/SWEEP-methods.md).
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import ConcatDataset

from ..data import FaceTensors
from ..nets import architecture, build_model, learning_from
from ..training import Progress, bf16_helps, fit, kl_to, loader, seed_everything
from .base import ForgetRequest, Method, Outcome, check_learn_from, learn_from_setting, setting, timed


@dataclass(frozen=True)
class BadTeacherConfig:
    retain_per_id: int = setting(10, 1, 500, "retain subset: training photos per kept person (seeded sample)")
    epochs: int = setting(1, 1, 50, "passes over the forgotten photos and the retain subset, mixed")
    lr: float = setting(1e-4, 1e-8, 1, "learning rate (Adam)")
    temperature: float = setting(1.0, 0.1, 100, "softening of both teachers' outputs and the student's")
    batch_size: int = setting(64, 1, 1024, "photos per step")
    learn_from: str = learn_from_setting()

    def validate(self, arch: str | None = None) -> None:
        check_learn_from(self.learn_from, arch)


FORGOTTEN, KEPT = 1, 0  # the label each photo carries while training: which teacher it learns from


def two_teachers_loss(competent: nn.Module, incompetent: nn.Module, temperature: float):
    """KL to the competent teacher's softened outputs on kept photos, to the incompetent one's on forgotten."""
    competent.eval()
    incompetent.eval()

    def loss(model, inputs, which_teacher):
        with torch.no_grad():
            good = F.softmax(competent(inputs).float() / temperature, dim=1)
            bad = F.softmax(incompetent(inputs).float() / temperature, dim=1)
            forgotten = (which_teacher == FORGOTTEN).unsqueeze(1)
            target = torch.where(forgotten, bad, good)
        return kl_to(model(inputs), target, temperature)

    return loss


def bad_teacher(original, request: ForgetRequest, config: BadTeacherConfig = BadTeacherConfig(),
                progress: Progress | None = None) -> Outcome:
    forget, retain, read = request.forgotten_and_kept("Bad Teacher", config.retain_per_id)
    generator = seed_everything(request.seed)
    model = copy.deepcopy(original)
    device = next(model.parameters()).device
    outcome = Outcome(model, data_read=read, hyperparameters={"method": "bad-teacher", **asdict(config)})
    incompetent = build_model(architecture(original), request.num_classes, retain.image_size).to(device)
    photos = ConcatDataset([FaceTensors(replace(forget, labels=torch.full_like(forget.labels, FORGOTTEN))),
                            FaceTensors(replace(retain, labels=torch.full_like(retain.labels, KEPT)))])
    with timed(outcome.stages, "distil"), learning_from(model, config.learn_from) as learner:
        fit(learner, loader(photos, config.batch_size, generator), torch.optim.Adam(model.parameters(), lr=config.lr),
            epochs=config.epochs, loss_fn=two_teachers_loss(original, incompetent, config.temperature),
            autocast=bf16_helps(device), stage="distil", progress=progress)
    model.eval()
    return outcome


METHOD = Method("bad-teacher", "Bad Teacher", bad_teacher, BadTeacherConfig, zero_glance=False, order=20,
                summary="distil the original on kept photos and a random network on the forgotten ones",
                untuned={"vit": "on the tuning sets its defaults left 47-75 % of the forgotten recognised"})
