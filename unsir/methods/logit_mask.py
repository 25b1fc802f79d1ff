"""Control "logit-mask": hide the forgotten people at the output and change nothing else.

Not unlearning. The forgotten people's rows of the classifier are zeroed and their bias set very
negative, so the model can never name them, while every feature stays exactly as it was. It shows
what a metric that reads only the output cannot tell apart from real forgetting.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch

from ..nets import classifier
from ..training import Progress
from .base import ForgetRequest, Method, Outcome, timed


@dataclass(frozen=True)
class LogitMaskConfig:
    masked_bias: float = -1e4  # far below any real logit, yet finite in bf16


def logit_mask(original, request: ForgetRequest, config: LogitMaskConfig = LogitMaskConfig(),
               progress: Progress | None = None) -> Outcome:
    model = copy.deepcopy(original)
    outcome = Outcome(model, data_read="no photo at all (it edits the classifier's weights only)",
                      hyperparameters={"method": "logit-mask", **asdict(config)})
    forget = torch.tensor(request.forget_classes)
    with timed(outcome.stages, "mask"), torch.no_grad():
        head = classifier(model)
        head.weight[forget] = 0
        head.bias[forget] = config.masked_bias
    if progress:
        progress("mask", 1.0)
    model.eval()
    return outcome


METHOD = Method("logit-mask", "Logit mask (control)", logit_mask, LogitMaskConfig, zero_glance=True, control=True,
                order=0, summary="zero the forgotten rows of the classifier; nothing else changes")
