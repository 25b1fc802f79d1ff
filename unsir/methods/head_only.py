"""Control "head-only": forget in the classifier layer alone, with the body frozen.

Not unlearning. The forgotten people's rows of the classifier are re-initialised and only the
classifier is fine-tuned on the retain subset, on the frozen body's features (computed once):
the features, where the person can still be found, stay exactly as they were.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..features import predict_with_features
from ..nets import classifier
from ..training import Progress, fit, loader, seed_everything
from .base import ForgetRequest, Method, Outcome, setting, timed


@dataclass(frozen=True)
class HeadOnlyConfig:
    retain_per_id: int = setting(10, 1, 500, "retain subset: training photos per kept person (as UNSIR's)")
    epochs: int = setting(2, 1, 50, "passes of the classifier over the retain subset's features")
    lr: float = setting(1e-3, 1e-8, 1, "learning rate (Adam)")
    batch_size: int = setting(64, 1, 1024, "photos per step")


def head_only(original, request: ForgetRequest, config: HeadOnlyConfig = HeadOnlyConfig(),
              progress: Progress | None = None) -> Outcome:
    generator = seed_everything(request.seed)
    retain = request.retain_subset(config.retain_per_id)
    model = copy.deepcopy(original)
    outcome = Outcome(model, data_read=f"{len(retain)} training photos of kept identities (retain subset); "
                      "no photo of a forgotten identity",
                      hyperparameters={"method": "head-only", **asdict(config)})
    head = classifier(model)
    with timed(outcome.stages, "head"):
        _, features = predict_with_features(model, retain)
        forget = torch.tensor(request.forget_classes)
        fresh = nn.Linear(head.in_features, head.out_features).to(head.weight.device)
        with torch.no_grad():
            head.weight[forget] = fresh.weight[forget]
            head.bias[forget] = fresh.bias[forget]
        data = TensorDataset(features.to(head.weight.device), retain.labels.to(head.weight.device))
        fit(head, loader(data, config.batch_size, generator), torch.optim.Adam(head.parameters(), lr=config.lr),
            epochs=config.epochs, stage="head", progress=progress)
    model.eval()
    return outcome


METHOD = Method("head-only", "Head only (control)", head_only, HeadOnlyConfig, zero_glance=True, control=True,
                order=10, summary="re-initialise the forgotten rows of the classifier and retrain the classifier alone")
