"""Retrain baseline (the gold standard): train from scratch on every kept identity's photos.

A model that was distilled from a teacher (the ViT) is retrained the same way, from a teacher
that is itself retrained first: the original teacher saw the forgotten people.

A retrain takes minutes on a CPU and does not depend on any other method's settings, so it can
be cached (`RetrainConfig.cache_dir`): the benchmark and the sweep compare every recipe they try
with the same retrained model, and its recorded training time, instead of training it again.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from safetensors.torch import load_file, save_file

from .. import distributed
from ..checkpoints import read_card, write_then_replace
from ..nets import build_model
from ..training import Progress, Recipe, seed_everything, train_from_scratch
from .base import ForgetRequest, Method, Outcome, scaled, setting, timed


@dataclass(frozen=True)
class RetrainConfig:
    arch: str
    image_size: int
    recipe: Recipe
    teacher: RetrainConfig | None = None
    cache_dir: str | None = None  # where retrained models are kept, keyed by what determines them
    # Retraining is itself one draw: another seed starts from other weights and batches in another order,
    # which is how far apart two equally valid gold standards land (benchmarks/RETRAIN_SPREAD.md).
    training_seed: int | None = setting(None, 0, 2**31 - 1, "the retrain's own seed, for its starting weights "
                                        "and batch order (unset: the request's --seed)")

    def seed_for(self, request: ForgetRequest) -> int:
        return request.seed if self.training_seed is None else self.training_seed


def _trained(config: RetrainConfig, request: ForgetRequest, device, stages: dict[str, float], progress, stage: str):
    """The retrained model of this config and whether it came from the cache, which is asked at
    every level: the ViT's retrained teacher is the ResNet18's own retrain, often cached already.
    `stages` gets the training seconds of this level and its teacher's, measured when trained."""
    # Ranks training one model together must all load it or all train it.
    cached = cached_model_dir(config, request)
    distributed.agreed(cached is not None, f"Some ranks find the retrained model in {config.cache_dir} and "
                       "others do not: give every rank the same --retrain-cache folder (a shared file system).")
    if cached is not None:
        model = build_model(config.arch, request.num_classes, config.image_size)
        model.load_state_dict(load_file(str(cached / "model.safetensors")))
        for name, seconds in json.loads((cached / "stages.json").read_text()).items():
            stages[name.replace("retrain", stage, 1)] = seconds
        return model.to(device).eval(), cached
    own_stages: dict[str, float] = {}
    teacher = None
    if config.teacher is not None:
        teacher_config = replace(config.teacher, cache_dir=config.cache_dir, training_seed=config.training_seed)
        teacher, _ = _trained(teacher_config, request, device, own_stages, scaled(progress, 0, 0.4), f"{stage} teacher")
        progress = scaled(progress, 0.4, 1)
    recipe = Recipe(**{**config.recipe.to_dict(), "seed": config.seed_for(request)})
    seed_everything(recipe.seed)  # the initial weights too: the cache key promises one model per seed
    model = build_model(config.arch, request.num_classes, config.image_size).to(device)
    with timed(own_stages, stage):
        train_from_scratch(model, request.retain, recipe, teacher=teacher, progress=progress, stage=stage)
    stages.update(own_stages)
    if config.cache_dir and distributed.writes_training_results():
        folder = Path(config.cache_dir) / cache_key(config, request)
        folder.mkdir(parents=True, exist_ok=True)
        # Named as a standalone retrain names them, so any level can be read back as either.
        stages_json = json.dumps({name.replace(stage, "retrain", 1): seconds for name, seconds in own_stages.items()})
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        # The model last: its presence is what marks the folder as a cached retrain (cached_model_dir).
        write_then_replace(folder, {"stages.json": lambda path: path.write_text(stages_json),
                                    "model.safetensors": lambda path: save_file(state, str(path))})
    return model, None


def cache_key(config: RetrainConfig, request: ForgetRequest) -> str:
    """Everything a retrained model depends on: architecture, recipes, the kept photos, the seed it trains with
    (the same model whether that seed came from the request or from `training_seed`)."""
    recipe = {k: v for k, v in _without_training_seed(asdict(config)).items() if k != "cache_dir"}
    retain = hashlib.sha256(request.retain.images.numpy().tobytes() + request.retain.labels.numpy().tobytes())
    identity = {"config": recipe, "forget": sorted(request.forget_classes), "seed": config.seed_for(request),
                "num_classes": request.num_classes, "retain": retain.hexdigest()}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _without_training_seed(config: dict | None) -> dict | None:
    """A config as the cache key has always named it: the seed counts once, as the one trained with."""
    if config is None:
        return None
    return {k: _without_training_seed(v) if k == "teacher" else v for k, v in config.items() if k != "training_seed"}


def cached_model_dir(config: RetrainConfig, request: ForgetRequest) -> Path | None:
    """Where this retrain's model is kept, if it has been trained and cached before."""
    if not config.cache_dir:
        return None
    folder = Path(config.cache_dir) / cache_key(config, request)
    return folder if (folder / "model.safetensors").is_file() else None


def retrain(original, request: ForgetRequest, config: RetrainConfig, progress: Progress | None = None) -> Outcome:
    outcome = Outcome(original, data_read=f"all {len(request.retain)} training photos of kept identities",
                      hyperparameters={"method": "retrain", "arch": config.arch, **config.recipe.to_dict(),
                                       "seed": config.seed_for(request),  # the card's recipe names the original's
                                       "teacher": config.teacher.arch if config.teacher else None})
    device = next(original.parameters()).device
    outcome.model, cached = _trained(config, request, device, outcome.stages, progress, "retrain")
    if cached is not None:  # its stages report the seconds measured when it was trained, not the load
        outcome.hyperparameters["cached"] = str(cached)
    return outcome


def config_for(card: dict) -> RetrainConfig:
    """Retrain with the card's own recipe (and its teacher's, retrained too, for distilled models)."""
    teacher = config_for(read_card(card["teacher"])) if card.get("teacher") else None
    return RetrainConfig(card["arch"], card["image_size"], Recipe(**card["recipe"]), teacher)


METHOD = Method("retrain", "Retrain", retrain, RetrainConfig, zero_glance=True, order=90, make_defaults=config_for,
                summary="train from scratch on the kept people only: the gold standard (minutes)")
