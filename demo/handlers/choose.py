"""Choosing who to forget: the model's faces and names, clicks on faces, a random draw."""
from __future__ import annotations

import random
from typing import NamedTuple

import gradio as gr
import numpy as np

from unsir.forgetting import ForgetError, random_identities

from .. import figures
from .retrain import retrain_estimate
from .session import model_facts, open_workspace


def identity_choices(checkpoint: str) -> list[tuple[str, str]]:
    return [(figures.readable(name), name) for name in open_workspace(checkpoint).names]


class ModelView(NamedTuple):
    facts: str
    gallery: list[tuple[np.ndarray, str]]
    selection: dict  # gr.update of the choices
    retrain_note: str


def switch_model(checkpoint: str) -> ModelView:
    """Header, faces and choices of a model (the session is reset by `reset`)."""
    ws = open_workspace(checkpoint)
    return ModelView(model_facts(checkpoint), ws.thumbnails(),
                     gr.update(choices=identity_choices(checkpoint), value=[]), retrain_estimate(checkpoint))




def toggle_identity(selected: list[str] | None, checkpoint: str, event: gr.SelectData) -> list[str]:
    """A click on a face adds that person to the selection, or removes them."""
    name = open_workspace(checkpoint).names[event.index]
    selected = list(selected or [])
    return [n for n in selected if n != name] if name in selected else [*selected, name]


def selection_summary(selected: list[str] | None) -> str:
    if not selected:
        return "No one selected yet: click faces above, search by name, or draw some at random."
    return f"**{len(selected)} selected:** " + ", ".join(figures.readable(n) for n in selected)


def pick_random(count: float, checkpoint: str, seed: int | None = None) -> list[str]:
    """`count` identities drawn at random (a fresh draw on each click unless `seed` is given)."""
    names = open_workspace(checkpoint).names
    try:
        return random_identities(int(count or 0), names, random.randrange(2**31) if seed is None else seed)
    except ForgetError as error:
        raise gr.Error(str(error), title="Cannot draw") from error
