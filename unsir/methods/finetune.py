"""FineTune baseline: a few epochs on the retain subset, hoping the forgotten identities fade."""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch

from ..data import FaceTensors
from ..training import Progress, bf16_helps, fit, loader, seed_everything
from .base import ForgetRequest, Outcome, timed


@dataclass(frozen=True)
class FinetuneConfig:
    retain_per_id: int = 10
    epochs: int = 5
    lr: float = 0.02
    batch_size: int = 64


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
