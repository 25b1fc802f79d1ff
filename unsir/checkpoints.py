"""Checkpoints: weights as safetensors (never pickles) beside a JSON model card."""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save, save_file
from torch import nn

from .nets import ModelError, build_model

WEIGHTS = "model.safetensors"
CARD = "card.json"
CARD_FIELDS = {"arch": str, "image_size": int, "identities": list, "normalisation": dict, "dataset": dict}
IMAGE_SIZES = (8, 1024)  # pixels, the side of a model's square input


def weights_sha256(model: nn.Module) -> str:
    """A stable hash of a model's weights (safetensors' serialisation sorts the tensors)."""
    return state_sha256(model.state_dict())


def state_sha256(state: dict[str, torch.Tensor]) -> str:
    """The weights hash of a state dict, its float tensors taken in float32: a float16 file and the model loaded
    from it hash alike."""
    return hashlib.sha256(save({name: (t.detach().float() if t.is_floating_point() else t.detach()).contiguous()
                                for name, t in state.items()})).hexdigest()


def save_checkpoint(model: nn.Module, card: dict, out_dir, dtype: torch.dtype = torch.float16) -> Path:
    """Write `out_dir/model.safetensors` (float tensors as `dtype`) and `out_dir/card.json`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {
        name: (t.detach().to(dtype) if t.is_floating_point() else t.detach()).contiguous()
        for name, t in model.state_dict().items()
    }
    write_then_replace(out_dir, {WEIGHTS: lambda path: save_file(state, str(path), metadata={"arch": card["arch"]}),
                                 CARD: lambda path: path.write_text(json.dumps(card, indent=2) + "\n")})
    return out_dir


def write_then_replace(folder: Path, writers: dict[str, Callable[[Path], None]]) -> None:
    """Each file (name -> what writes it to a path) written whole beside its place first, then all put in place in
    order: an interrupted save leaves the old files, and the last one appears only once the others are there."""
    # Named by process: two processes saving the same folder (two benchmark ranks, one retrain) never share one.
    partial = {name: folder / f".{name}.{os.getpid()}.partial" for name in writers}
    for name, write in writers.items():
        write(partial[name])
    for name in writers:
        os.replace(partial[name], folder / name)


def read_card(checkpoint, fields: dict[str, type | tuple[type, ...]] = CARD_FIELDS) -> dict:
    """The model card of a checkpoint folder (or the card file itself, by any name ending .json), checked to hold
    `fields` (name -> JSON type) and a usable identity list."""
    path = Path(checkpoint) if Path(checkpoint).suffix == ".json" else Path(checkpoint) / CARD
    if not path.is_file():
        raise ModelError(f"No model card at {path}: a checkpoint folder holds model.safetensors and its card.json "
                         "(unsir train writes both, e.g. unsir train --out models/my-model).")
    try:
        card = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"{path} is not valid JSON ({error}).") from error
    if not isinstance(card, dict):
        raise ModelError(f"{path} must hold a JSON object, not {type(card).__name__}.")
    for key, kind in fields.items():
        if not isinstance(card.get(key), kind):
            names = " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__
            raise ModelError(f"{path} lacks a valid {key!r} ({names}).")
    names = card["identities"]
    if len(names) < 2 or not all(isinstance(n, str) and n for n in names) or len(set(names)) < len(names):
        raise ModelError(f"{path}: 'identities' must list at least 2 distinct, non-empty names.")
    if not isinstance(card["dataset"].get("name"), str) or not isinstance(card["dataset"].get("split_seed"), int):
        raise ModelError(f"{path}: 'dataset' must give the data's 'name' and its 'split_seed'.")
    if not IMAGE_SIZES[0] <= card["image_size"] <= IMAGE_SIZES[1]:
        raise ModelError(f"{path}: 'image_size' must be from {IMAGE_SIZES[0]} to {IMAGE_SIZES[1]} pixels, got "
                         f"{card['image_size']}.")
    return card


def load_checkpoint(checkpoint_dir) -> tuple[nn.Module, dict]:
    """(model in eval mode, card). Only safetensors are read: a pickle is refused, never unpickled."""
    checkpoint_dir = Path(checkpoint_dir)
    card = read_card(checkpoint_dir)
    weights = checkpoint_dir / WEIGHTS
    if not weights.is_file():
        pickles = sorted(p.name for p in checkpoint_dir.glob("*.p*t*") if p.suffix in {".pt", ".pth", ".pkl", ".ckpt"})
        hint = f" ({', '.join(pickles)} are pickles, which are refused because unpickling runs code)" if pickles else ""
        raise ModelError(f"No {WEIGHTS} in {checkpoint_dir}{hint}.")
    return load_weights(weights, card), card


def load_weights(weights, card: dict) -> nn.Module:
    """The model a card describes, in eval mode, with the weights of a safetensors file of any name."""
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as error:
        raise ModelError(
            f"{weights} is not a readable safetensors file ({error}); it may be truncated, or a pickle, "
            "which is refused because unpickling runs code."
        ) from error
    model = build_model(card["arch"], len(card["identities"]), card["image_size"])
    expected = model.state_dict()
    state = {name: tensor.to(expected[name].dtype) if name in expected else tensor for name, tensor in state.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise ModelError(f"{weights} does not match a {card['arch']} for {len(card['identities'])} identities: {error}") from error
    return model.eval()
