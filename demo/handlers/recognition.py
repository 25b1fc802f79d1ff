"""Is this person still recognised? A photo (upload, webcam or a held-out one) asked of both models."""
from __future__ import annotations

from typing import NamedTuple

import gradio as gr
import numpy as np
import torch
from PIL import Image

from unsir.faces import PhotoError, largest_face, read_photo
from unsir.training import predict_logits

from .. import figures
from ..workspace import CPU
from .session import Session, open_workspace, session_for

TOP_PREDICTIONS = 5
SAMPLE_SIZE = 256  # held-out photos are shown enlarged: MTCNN ignores faces under 20 px




class RecogniseView(NamedTuple):
    face: Image.Image
    original: dict[str, float]
    unlearned: dict[str, float] | None
    note: str


def top_predictions(model, face: torch.Tensor, names: list[str]) -> dict[str, float]:
    probabilities = predict_logits(model, face).softmax(1)[0]
    top = probabilities.topk(TOP_PREDICTIONS)
    return {figures.readable(names[c]): float(p) for p, c in zip(top.values, top.indices)}


def forgotten_test_photo(checkpoint: str, session: Session | None) -> Image.Image:
    """A held-out test photo of the latest forgotten person, for visitors without a photo at hand."""
    ws = open_workspace(checkpoint)
    session = session_for(session, checkpoint)
    if not session.forgotten:
        raise gr.Error("Forget someone first: this picks one of their held-out test photos.", title="No one forgotten")
    label = ws.names.index(session.forgotten[-1])
    pixels = ws.split.test.images[int((ws.split.test.labels == label).nonzero()[0])].permute(1, 2, 0).numpy()
    return Image.fromarray(pixels).resize((SAMPLE_SIZE, SAMPLE_SIZE), Image.BICUBIC)


def recognise(photo: dict | str | Image.Image | None, checkpoint: str, session: Session | None) -> RecogniseView:
    """Find the largest face in a photo and ask both models who it is. The photo: Gradio's upload
    ({"path": ...}, which the page passes unopened), a file path, or an image."""
    if isinstance(photo, dict):
        photo = photo.get("path")
    if photo is None:
        raise gr.Error("Upload a photo or take one with the webcam first.", title="No photo")
    ws = open_workspace(checkpoint)
    session = session_for(session, checkpoint)
    try:
        found = largest_face(read_photo(photo))
    except PhotoError as error:
        raise gr.Error(str(error), title="Cannot use this photo") from error
    if found is None:
        raise gr.Error("No face found in this photo. Try one where the face is large, frontal and well lit.",
                       title="No face")
    size = ws.card["image_size"]
    face = torch.from_numpy(np.array(found.crop.resize((size, size), Image.BILINEAR))).permute(2, 0, 1)[None]
    original = top_predictions(ws.model, face, ws.names)
    faces = f"{found.faces_found} faces found; asking about the largest." if found.faces_found > 1 else "Face found."
    if session.weights is None:
        return RecogniseView(found.crop, original, None,
                             f"{faces} Nothing is forgotten yet, so only the original answers.")
    unlearned = top_predictions(ws.model_with(session.weights, CPU), face, ws.names)
    return RecogniseView(found.crop, original, unlearned,
                         f"{faces} Forgotten: {', '.join(figures.readable(n) for n in session.forgotten)}.")
