"""Whole jobs the CLI and the app share: train a checkpoint, load one with its data, evaluate."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import distributed, metrics
from .checkpoints import load_checkpoint, save_checkpoint
from .data import DATASETS, MEAN, STD, DataError, FaceSet, Split, load_dataset, load_strangers
from .nets import ModelError, build_model
from .training import (Progress, Recipe, default_device, device_name, predict_outputs, seed_everything,
                       train_from_scratch)


@dataclass
class Loaded:
    """A checkpoint with the exact data split it was trained on."""

    model: nn.Module
    card: dict
    split: Split
    path: Path


def recorded_name(dataset: str) -> str:
    """How a card names its dataset: a folder by its full path, as the card is read from other working
    directories."""
    return dataset if dataset in DATASETS or not Path(dataset).is_dir() else str(Path(dataset).resolve())


def dataset_for_card(card: dict, data_home=None) -> Split:
    spec = card["dataset"]
    split = load_dataset(spec["name"], data_home, image_size=card["image_size"], seed=spec["split_seed"],
                         max_per_identity=spec.get("max_per_identity"), identities=card["identities"])
    if split.names != card["identities"]:
        raise DataError(f"The dataset {spec['name']!r} found here does not hold the identities this model was trained on.")
    # Other photos of the same people split otherwise: the model would be tested on photos it trained on.
    if spec.get("fingerprint") and split.fingerprint != spec["fingerprint"]:
        raise DataError(f"The photos of {spec['name']!r} found here are not the ones this model was trained on (file "
                        f"list {split.fingerprint}, the card says {spec['fingerprint']}): its held-out photos would "
                        "not be held out. Point the data home at the data the model was trained on, or retrain it.")
    if card["normalisation"] != {"mean": list(MEAN), "std": list(STD)}:
        raise DataError(f"This model expects its photos normalised with {card['normalisation']}, this code gives "
                        f"mean {list(MEAN)}, std {list(STD)}: retrain it with this version.")
    return split


def load(checkpoint, data_home=None, device: torch.device | None = None) -> Loaded:
    model, card = load_checkpoint(checkpoint)
    split = same_photos_on_every_rank(dataset_for_card(card, data_home))
    return Loaded(model.to(device or default_device()), card, split, Path(checkpoint))


def same_photos_on_every_rank(split: Split) -> Split:
    """`split`, checked to hold the same photos on every rank training together (torchrun; a no-op alone): a node
    with another copy of the data would train other shards, or wait for steps the others never take."""
    distributed.agreed(split.fingerprint, "Some ranks read other photos than others (each node's data home must "
                                          "hold the same copy)")
    return split


def evaluate(model: nn.Module, split: Split) -> dict:
    """Test accuracy, balanced accuracy and per-identity accuracy (fractions)."""
    predictions = predict_outputs(model, split.test).argmax(1)
    per_identity = metrics.per_class_accuracy(predictions, split.test.labels, len(split.names))
    return {
        "test_acc": metrics.accuracy(predictions, split.test.labels),
        "balanced_test_acc": metrics.balanced_accuracy(per_identity),
        "per_identity_test_acc": {name: per_identity[i] for i, name in enumerate(split.names)},
        "n_test": len(split.test),
    }


def train_checkpoint(
    arch: str,
    out_dir,
    *,
    dataset: str = "lfw100",
    data_home=None,
    image_size: int = 64,
    split_seed: int = 0,
    max_per_identity: int | None = None,
    identities: int = 100,
    recipe: Recipe,
    init: str | None = None,
    teacher_dir=None,
    command: str | None = None,
    progress: Progress | None = None,
) -> dict:
    """Train `arch` on `dataset`, save weights + card to `out_dir`, return the card."""
    split = same_photos_on_every_rank(load_dataset(dataset, data_home, image_size=image_size, seed=split_seed,
                                                   max_per_identity=max_per_identity, identities=identities))
    device = default_device()
    seed_everything(recipe.seed)  # the initial weights too: one seed, one model
    model = build_model(arch, len(split.names), image_size, init).to(device)
    teacher = None
    if teacher_dir:
        teacher, teacher_card = load_checkpoint(teacher_dir)
        if teacher_card["identities"] != split.names:
            raise ModelError(f"The teacher {teacher_dir} was trained on other identities.")
        # A teacher split otherwise has trained on some of this model's test photos: it would teach them.
        same_split = {"name": recorded_name(dataset), "split_seed": split_seed, "max_per_identity": max_per_identity,
                      "fingerprint": split.fingerprint}
        differs = [key for key, value in same_split.items() if teacher_card["dataset"].get(key) != value]
        if teacher_card["image_size"] != image_size:
            differs.append("image_size")
        if differs:
            raise ModelError(f"The teacher {teacher_dir} was trained on another split of the photos or another image "
                             f"size ({', '.join(differs)} differ): it would teach this model its test photos. Train "
                             "both with the same data options.")
        teacher = teacher.to(device)
    started = time.perf_counter()
    train_from_scratch(model, split.train, recipe, teacher=teacher, progress=progress)
    seconds = time.perf_counter() - started
    # Evaluate the weights exactly as shipped (fp16 on disk).
    model = model.half().float()
    card = {
        "arch": arch,
        "image_size": image_size,
        "normalisation": {"mean": list(MEAN), "std": list(STD)},
        "identities": split.names,
        "dataset": {"name": recorded_name(dataset), "split_seed": split_seed, "max_per_identity": max_per_identity,
                    "fingerprint": split.fingerprint, "n_train": len(split.train), "n_test": len(split.test)},
        "init": init or "scratch",
        "teacher": str(teacher_dir) if teacher_dir else None,
        "recipe": recipe.to_dict(),
        "epochs": recipe.epochs,
        "train_command": command,
        "processes": processes_card(recipe.batch_size),
        "device": device_name(device),
        "seconds": round(seconds, 1),
        **evaluate(model, split),
    }
    if distributed.is_main():  # the ranks hold one model: one checkpoint
        save_checkpoint(model, card, out_dir)
    return card


def processes_card(batch_size: int) -> dict:
    """How many processes trained the model (torchrun), with what global batch and backend."""
    group = distributed.training_ranks()
    if group is None:
        return {"world_size": 1, "global_batch": batch_size, "backend": None}
    per_rank = -(-batch_size // group.world_size)  # as distributed.shard splits it
    return {"world_size": group.world_size, "global_batch": per_rank * group.world_size, "backend": group.backend}


def load_strangers_for(loaded: Loaded, data_home=None) -> FaceSet | None:
    """LFW people outside the model's identities (None for datasets without such a population)."""
    if loaded.card["dataset"]["name"] != "lfw100":
        return None
    return load_strangers(loaded.split.names, data_home, image_size=loaded.card["image_size"])


def save_unlearned(outcome, card: dict, report: dict, method: str, out_dir) -> Path:
    """Save an unlearned model with a card saying what was forgotten, how, and from what."""
    unlearned_card = {**card, "unlearned": {
        "method": method, "forget": report["forget"], "hyperparameters": outcome.hyperparameters,
        "data_read": outcome.data_read, "zero_glance": outcome.zero_glance,
        "original_sha256": report["sha256"]["original"],
        "metrics": {k: v for k, v in report["methods"][method].items()
                    if k.endswith("_acc") or k in ("mia_forget", "mia_auc_forget", "stranger_ks")},
    }}
    return save_checkpoint(outcome.model, unlearned_card, out_dir, dtype=torch.float32)
