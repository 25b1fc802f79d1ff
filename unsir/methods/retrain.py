"""Retrain baseline (the gold standard): train from scratch on every kept identity's photos.

A model that was distilled from a teacher (the ViT) is retrained the same way, from a teacher
that is itself retrained first: the original teacher saw the forgotten people.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..nets import build_model
from ..training import Progress, Recipe, train_from_scratch
from .base import ForgetRequest, Outcome, scaled, timed


@dataclass(frozen=True)
class RetrainConfig:
    arch: str
    image_size: int
    recipe: Recipe
    teacher: RetrainConfig | None = None


def _train(config: RetrainConfig, request: ForgetRequest, device, outcome: Outcome, progress, stage: str):
    teacher = None
    if config.teacher is not None:
        teacher = _train(config.teacher, request, device, outcome, scaled(progress, 0, 0.4), f"{stage} teacher")
        progress = scaled(progress, 0.4, 1)
    model = build_model(config.arch, request.num_classes, config.image_size).to(device)
    recipe = Recipe(**{**config.recipe.to_dict(), "seed": request.seed})
    with timed(outcome.stages, stage):
        train_from_scratch(model, request.retain, recipe, teacher=teacher, progress=progress, stage=stage)
    return model


def retrain(original, request: ForgetRequest, config: RetrainConfig, progress: Progress | None = None) -> Outcome:
    outcome = Outcome(original, data_read=f"all {len(request.retain)} training photos of kept identities",
                      hyperparameters={"method": "retrain", "arch": config.arch, **config.recipe.to_dict(),
                                       "teacher": config.teacher.arch if config.teacher else None})
    outcome.model = _train(config, request, next(original.parameters()).device, outcome, progress, "retrain")
    return outcome
