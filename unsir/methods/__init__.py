"""Unlearning methods side by side, each a small module over the shared training loop.

Every method takes (original model, ForgetRequest, config, progress) and returns an Outcome
holding a new model; the original is never modified.
"""
from __future__ import annotations

from ..checkpoints import read_card
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
    return retrain_config(card)


def retrain_config(card: dict) -> RetrainConfig:
    """Retrain with the card's own recipe (and its teacher's, retrained too, for distilled models)."""
    teacher = retrain_config(read_card(card["teacher"])) if card.get("teacher") else None
    return RetrainConfig(card["arch"], card["image_size"], Recipe(**card["recipe"]), teacher)


__all__ = ["METHODS", "ZERO_GLANCE", "ForgetRequest", "Outcome", "default_config", "retrain_config", "UnsirConfig",
           "FinetuneConfig", "NeggradConfig", "RetrainConfig"]
