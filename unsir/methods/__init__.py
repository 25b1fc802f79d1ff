"""Unlearning methods side by side, each a small module over the shared training loop.

Every method takes (original model, ForgetRequest, config, progress) and returns an Outcome
holding a new model; the original is never modified.
"""
from __future__ import annotations

from collections.abc import Mapping
from numbers import Real

from ..checkpoints import read_card
from ..training import Recipe
from .base import ForgetRequest, Outcome
from .finetune import FinetuneConfig, finetune
from .head_only import HeadOnlyConfig, head_only
from .logit_mask import LogitMaskConfig, logit_mask
from .neggrad import NeggradConfig, neggrad
from .retrain import RetrainConfig, retrain
from .unsir import UnsirConfig, defaults_for, unsir

METHODS = {"unsir": unsir, "finetune": finetune, "neggrad": neggrad, "retrain": retrain,
           "logit-mask": logit_mask, "head-only": head_only}
# Methods that never read a photo of a forgotten identity.
ZERO_GLANCE = {"unsir", "finetune", "retrain", "logit-mask", "head-only"}
CONFIGS = {"finetune": FinetuneConfig, "neggrad": NeggradConfig, "logit-mask": LogitMaskConfig,
           "head-only": HeadOnlyConfig}
# What a person may set (app, API, CLI), by setting name across the methods' configs. Wide enough for
# the paper's values and the sweep's; beyond, a run fails, does nothing, or holds the device for hours.
SETTING_RANGES = {
    "retain_per_id": (1, 500), "noise_batch": (1, 64), "noise_steps": (1, 1000), "noise_lr": (1e-6, 10),
    "noise_lambda": (0, 100), "noise_copies": (1, 32), "impair_lr": (1e-8, 1), "repair_lr": (1e-8, 1),
    "lr": (1e-8, 1), "classifier_lr_scale": (0.01, 10_000), "impair_body_scale": (0.01, 1000),
    "repair_distill": (0, 1), "distill_temperature": (0.1, 100), "repair_epochs": (1, 50), "epochs": (1, 50),
    "batch_size": (1, 1024),
}


def default_config(method: str, card: dict):
    if method == "unsir":
        return defaults_for(card["arch"])
    if method == "retrain":
        return retrain_config(card)
    if method not in CONFIGS:
        raise ValueError(f"Unknown method {method!r}: choose one of {', '.join(METHODS)}.")
    return CONFIGS[method]()


def check_settings(settings: Mapping[str, object]) -> None:
    """Raise ValueError naming every setting outside its allowed range, and the range."""
    problems = [f"{name} must be a number from {low:g} to {high:g}, got {value!r}"
                for name, value in settings.items() if name in SETTING_RANGES
                for low, high in [SETTING_RANGES[name]]
                if isinstance(value, bool) or not isinstance(value, Real) or not low <= value <= high]
    if problems:
        raise ValueError("; ".join(problems) + ".")


def retrain_config(card: dict) -> RetrainConfig:
    """Retrain with the card's own recipe (and its teacher's, retrained too, for distilled models)."""
    teacher = retrain_config(read_card(card["teacher"])) if card.get("teacher") else None
    return RetrainConfig(card["arch"], card["image_size"], Recipe(**card["recipe"]), teacher)


__all__ = ["METHODS", "ZERO_GLANCE", "HeadOnlyConfig", "LogitMaskConfig", "SETTING_RANGES", "ForgetRequest", "Outcome", "check_settings", "default_config",
           "retrain_config", "UnsirConfig", "FinetuneConfig", "NeggradConfig", "RetrainConfig"]
