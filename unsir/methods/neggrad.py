"""NegGrad baseline: gradient ascent on the forgotten identities' photos. NOT zero-glance."""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ..data import FaceTensors
from ..training import Progress, bf16_helps, fit, loader, seed_everything
from .base import ForgetRequest, Outcome, timed


@dataclass(frozen=True)
class NeggradConfig:
    epochs: int = 1
    lr: float = 0.01
    batch_size: int = 64


def negative_cross_entropy(model, inputs, labels):
    return -F.cross_entropy(model(inputs), labels)


def neggrad(original, request: ForgetRequest, config: NeggradConfig = NeggradConfig(),
            progress: Progress | None = None) -> Outcome:
    if request.forget_train is None or not len(request.forget_train):
        raise ValueError("NegGrad needs the forgotten identities' training photos (it is not zero-glance).")
    generator = seed_everything(request.seed)
    model = copy.deepcopy(original)
    outcome = Outcome(model, zero_glance=False,
                      data_read=f"{len(request.forget_train)} training photos of the forgotten identities "
                      "(NOT zero-glance)", hyperparameters={"method": "neggrad", **asdict(config)})
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
    with timed(outcome.stages, "neggrad"):
        fit(model, loader(FaceTensors(request.forget_train), config.batch_size, generator), optimizer,
            epochs=config.epochs, loss_fn=negative_cross_entropy,
            autocast=bf16_helps(next(model.parameters()).device), stage="neggrad", progress=progress)
    model.eval()
    return outcome
