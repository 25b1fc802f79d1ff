"""Choosing who to forget: the model's faces and names, clicks on faces, a random draw."""
from __future__ import annotations

import random
from typing import NamedTuple

import gradio as gr
import numpy as np

from unsir.forgetting import ForgetError, random_identities

from .. import figures
from .retrain import retrain_estimate
from .session import model_facts, open_workspace, unsir_defaults

PANEL_SETTINGS = ("retain_per_id", "noise_steps", "noise_lambda", "impair_lr", "repair_lr", "cycles", "notebook_faithful")


def identity_choices(checkpoint: str) -> list[tuple[str, str]]:
    return [(figures.readable(name), name) for name in open_workspace(checkpoint).names]


class ModelView(NamedTuple):
    facts: str
    gallery: list[tuple[np.ndarray, str]]
    selection: dict  # gr.update of the choices
    retrain_note: str
    # The Advanced panel: UNSIR's defaults for this model (they differ by architecture).
    retain_per_id: int
    noise_steps: int
    noise_lambda: float
    impair_lr: float
    repair_lr: float
    cycles: str
    notebook_faithful: bool


def switch_model(checkpoint: str) -> ModelView:
    """Header, faces, choices and UNSIR's defaults of a model (the session is reset by `reset`)."""
    ws = open_workspace(checkpoint)
    defaults = unsir_defaults(checkpoint)
    return ModelView(model_facts(checkpoint), ws.thumbnails(),
                     gr.update(choices=identity_choices(checkpoint), value=[]), retrain_estimate(checkpoint),
                     *(getattr(defaults, name) for name in PANEL_SETTINGS))


def known_only(selected: list[str] | None, checkpoint: str) -> list[str] | dict:
    """Keep only the model's people in the selection: typed text becomes the one person it names
    ("serena" -> Serena_Williams), or is dropped with a warning saying so."""
    names = open_workspace(checkpoint).names
    if all(str(value) in names for value in selected or []) and len(set(selected or [])) == len(selected or []):
        return gr.skip()  # nothing to change: sending the value back could undo a click made meanwhile
    kept, dropped, ambiguous = [], [], []
    for value in selected or []:
        text = str(value).strip()
        if text in names:
            found = [text]
        else:
            key = text.lower().replace("_", " ")
            found = [n for n in names if key and key in n.lower().replace("_", " ")]
        if not found:
            dropped.append(text)
        elif len(found) > 1:
            ambiguous.append((text, found))
        elif found[0] not in kept:
            kept.append(found[0])
    if dropped:
        gr.Warning(f"Not one of this model's people: {', '.join(repr(d[:40]) for d in dropped)}. "
                   "Type part of a name and pick it from the suggestions, or click a face.", title="Unknown name")
    for text, found in ambiguous:
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        shown = ", ".join(figures.readable(n) for n in found[:5]) + more
        gr.Warning(f"{text[:40]!r} names {len(found)} of this model's people: {shown}. Type more of the name, or "
                   "click the face.", title="Which one?")
    return kept


def toggle_identity(selected: list[str] | None, checkpoint: str, event: gr.SelectData) -> list[str]:
    """A click on a face adds that person to the selection, or removes them."""
    name = open_workspace(checkpoint).names[event.index]
    selected = list(selected or [])
    return [n for n in selected if n != name] if name in selected else [*selected, name]


def selection_summary(selected: list[str] | None) -> str:
    if not selected:
        return "No one selected yet: click faces below, search by name, or draw some at random."
    return f"**{len(selected)} selected:** " + ", ".join(figures.readable(n) for n in selected)


def pick_random(count: float, checkpoint: str, seed: int | None = None) -> list[str]:
    """`count` identities drawn at random (a fresh draw on each click unless `seed` is given)."""
    names = open_workspace(checkpoint).names
    try:
        return random_identities(int(count or 0), names, random.randrange(2**31) if seed is None else seed)
    except ForgetError as error:
        raise gr.Error(str(error), title="Cannot draw") from error
