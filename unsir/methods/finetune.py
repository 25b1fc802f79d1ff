"""FineTune baseline: a few epochs on the retain subset, hoping the forgotten identities fade."""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch

from ..data import FaceTensors
from ..training import Progress, bf16_helps, fit, loader, seed_everything
from .base import ForgetRequest, Method, Outcome, setting, timed


@dataclass(frozen=True)
class FinetuneConfig:
    retain_per_id: int = setting(10, 1, 500, "retain subset: training photos per kept person (seeded sample)")
    epochs: int = setting(5, 1, 50, "passes over the retain subset")
    lr: float = setting(0.02, 1e-8, 1, "learning rate (SGD, momentum 0.9)")
    batch_size: int = setting(64, 1, 1024, "photos per step")


def finetune(original, request: ForgetRequest, config: FinetuneConfig = FinetuneConfig(),
             progress: Progress | None = None) -> Outcome:
    generator = seed_everything(request.seed)
    retain = request.retain_subset(config.retain_per_id)
    model = copy.deepcopy(original)
    outcome = Outcome(model, data_read=f"{len(retain)} training photos of kept identities (retain subset)",
                      hyperparameters={"method": "finetune", **asdict(config)})
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
    with timed(outcome.stages, "finetune"):
        fit(model, loader(FaceTensors(retain, augment=True), config.batch_size, generator), optimizer,
            epochs=config.epochs, autocast=bf16_helps(next(model.parameters()).device), stage="finetune",
            progress=progress)
    model.eval()
    return outcome


METHOD = Method("finetune", "FineTune", finetune, FinetuneConfig, zero_glance=True, order=10,
                summary="a few epochs on kept people's photos, hoping the forgotten fade")
