"""NegGrad baseline: gradient ascent on the forgotten identities' photos. NOT zero-glance."""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ..data import FaceTensors
from ..training import Progress, bf16_helps, fit, loader, seed_everything
from .base import ForgetRequest, Method, Outcome, setting, timed


@dataclass(frozen=True)
class NeggradConfig:
    epochs: int = setting(1, 1, 50, "passes over the forgotten people's training photos")
    lr: float = setting(0.01, 1e-8, 1, "learning rate (SGD, momentum 0.9)")
    batch_size: int = setting(64, 1, 1024, "photos per step")


def negative_cross_entropy(model, inputs, labels):
    return -F.cross_entropy(model(inputs), labels)


def neggrad(original, request: ForgetRequest, config: NeggradConfig = NeggradConfig(),
            progress: Progress | None = None) -> Outcome:
    forget = request.forget_photos("NegGrad")
    generator = seed_everything(request.seed)
    model = copy.deepcopy(original)
    outcome = Outcome(model, data_read=f"{len(forget)} training photos of the forgotten identities "
                      "(NOT zero-glance)", hyperparameters={"method": "neggrad", **asdict(config)})
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
    with timed(outcome.stages, "neggrad"):
        fit(model, loader(FaceTensors(forget), config.batch_size, generator), optimizer,
            epochs=config.epochs, loss_fn=negative_cross_entropy,
            autocast=bf16_helps(next(model.parameters()).device), stage="neggrad", progress=progress)
    model.eval()
    return outcome


METHOD = Method("neggrad", "NegGrad", neggrad, NeggradConfig, zero_glance=False, order=90,
                summary="gradient ascent on the forgotten people's photos")
