"""Unlearning methods side by side, each a small module over the shared training loop.

Every method takes (original model, ForgetRequest, config, progress) and returns an Outcome
holding a new model; the original is never modified.
"""
from __future__ import annotations

from ..training import Recipe
from .base import ForgetRequest, Outcome
from .finetune import FinetuneConfig, finetune
from .neggrad import NeggradConfig, neggrad
from .retrain import RetrainConfig, retrain
from .unsir import UnsirConfig, unsir

METHODS = {"unsir": unsir, "finetune": finetune, "neggrad": neggrad, "retrain": retrain}
# Methods that never read a photo of a forgotten identity.
ZERO_GLANCE = {"unsir", "finetune", "retrain"}


def default_config(method: str, card: dict):
    if method == "unsir":
        return UnsirConfig()
    if method == "finetune":
        return FinetuneConfig()
    if method == "neggrad":
        return NeggradConfig()
    return RetrainConfig(card["arch"], card["image_size"], Recipe(**card["recipe"]))


__all__ = ["METHODS", "ZERO_GLANCE", "ForgetRequest", "Outcome", "default_config", "UnsirConfig",
           "FinetuneConfig", "NeggradConfig", "RetrainConfig"]
