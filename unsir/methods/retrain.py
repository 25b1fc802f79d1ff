"""Retrain baseline (the gold standard): train from scratch on every kept identity's photos."""
from __future__ import annotations

from dataclasses import dataclass

from ..nets import build_model
from ..training import Progress, Recipe, train_from_scratch
from .base import ForgetRequest, Outcome, timed


@dataclass(frozen=True)
class RetrainConfig:
    arch: str
    image_size: int
    recipe: Recipe


def retrain(original, request: ForgetRequest, config: RetrainConfig, progress: Progress | None = None) -> Outcome:
    model = build_model(config.arch, request.num_classes, config.image_size).to(next(original.parameters()).device)
    recipe = Recipe(**{**config.recipe.to_dict(), "seed": request.seed})
    outcome = Outcome(model, data_read=f"all {len(request.retain)} training photos of kept identities",
                      hyperparameters={"method": "retrain", "arch": config.arch, **recipe.to_dict()})
    with timed(outcome.stages, "retrain"):
        train_from_scratch(model, request.retain, recipe, progress=progress, stage="retrain")
    return outcome
