"""Is this person still recognised? A photo (upload, webcam or a held-out one) asked of both models."""
from __future__ import annotations

import functools
import os
from dataclasses import replace
from typing import NamedTuple

import gradio as gr
import numpy as np
import torch
from PIL import Image

from unsir import metrics
from unsir.evaluation import Predictions
from unsir.faces import DetectedFace, PhotoError, largest_face, read_photo
from unsir.training import predict_outputs

from .. import figures
from ..compute import computes
from ..workspace import CPU
from .session import Session, open_workspace, session_for

TOP_PREDICTIONS = 5
SAMPLE_SIZE = 256  # held-out photos are shown enlarged: MTCNN ignores faces under 20 px
STRANGERS_ACCEPTED = 0.05  # the threshold lets through at most this share of never-seen people
HELD_OUT_REJECTED = 0.05  # without never-seen people: the share of kept people's photos it turns away


def calibrate(predictions: Predictions, split, kept_classes: list[int]) -> dict:
    """A confidence threshold under which a model's answer reads "not recognised", and what it costs.

    With never-seen people (LFW's strangers), the threshold is the confidence that only 5 % of them
    reach; its false-reject rate is measured on the kept people's held-out photos. Without them
    (Olivetti holds no one else), it cannot be calibrated on strangers: it is set to turn away 5 % of
    half the kept people's held-out photos (every other photo) and measured on the other half, and
    the page says so."""
    kept = torch.isin(split.test.labels, torch.as_tensor(kept_classes))
    kept_confidence = metrics.softmax_confidence(predictions.test[kept])
    strangers = metrics.softmax_confidence(predictions.strangers)
    if len(strangers):
        threshold = float(torch.quantile(strangers, 1 - STRANGERS_ACCEPTED))
        return {"threshold": threshold, "calibrated_on": "never-seen people", "people": len(strangers),
                "strangers_accepted": float((strangers >= threshold).float().mean()),
                "false_reject_kept": float((kept_confidence < threshold).float().mean()),
                "kept_photos": len(kept_confidence)}
    calibration, measured = kept_confidence[0::2], kept_confidence[1::2]
    threshold = float(torch.quantile(calibration, HELD_OUT_REJECTED))
    return {"threshold": threshold, "calibrated_on": "kept people's held-out photos", "people": 0,
            "strangers_accepted": None, "false_reject_kept": float((measured < threshold).float().mean()),
            "kept_photos": len(measured)}


def threshold_note(calibrations: dict[str, dict]) -> str:
    """How the thresholds were set, and the share of kept people's photos they turn away, per model."""
    first = next(iter(calibrations.values()))
    rejects = ", ".join(f"{c['false_reject_kept']:.0%} ({model})"
                        for model, c in zip(("original", "unlearned"), calibrations.values()))
    if first["calibrated_on"] == "never-seen people":
        return (f"'Not recognised' means a confidence below the level that only {STRANGERS_ACCEPTED:.0%} of "
                f"{first['people']} never-seen people reach; that threshold also turns away {rejects} of the kept "
                f"people's {first['kept_photos']} held-out photos.")
    return ("This dataset has no never-seen people to calibrate on: 'not recognised' means a confidence below "
            f"the level of the least sure {HELD_OUT_REJECTED:.0%} of half the kept people's held-out photos; on the "
            f"other {first['kept_photos']} it turns away {rejects}. How it treats strangers is not measured.")


class RecogniseView(NamedTuple):
    face: Image.Image
    original: dict[str, float]
    unlearned: dict[str, float] | None
    note: str


def top_predictions(model, face: torch.Tensor, names: list[str]) -> dict[str, float]:
    probabilities = predict_outputs(model, face).softmax(1)[0]
    top = probabilities.topk(TOP_PREDICTIONS)
    return {figures.readable(names[c]): float(p) for p, c in zip(top.values, top.indices)}


def verdict(model: str, top: dict[str, float], calibration: dict) -> str:
    """"<model>: <name> (83 %)" or "<model>: not recognised (...)": the answer, against its threshold."""
    name, confidence = next(iter(top.items()))
    if confidence < calibration["threshold"]:
        return (f"**{model}: not recognised** (its best guess, {name} at {confidence:.0%}, is below its "
                f"threshold of {calibration['threshold']:.0%})")
    return f"**{model}: {name}** ({confidence:.0%}, above its threshold of {calibration['threshold']:.0%})"


def original_calibration(checkpoint: str) -> dict:
    """The shipped model's threshold with everyone kept (before anything is forgotten)."""
    ws = open_workspace(checkpoint)
    return calibrate(ws.predictions(), ws.split, list(range(len(ws.names))))


def held_out_photos(ws, forgotten: list[str]) -> list[tuple[str, int]]:
    """(person, test index) of every held-out photo of the forgotten people, person by person, those the
    original named most surely first: a photo it already missed would show nothing about the forgetting."""
    labels, logits = ws.split.test.labels, ws.predictions().test
    photos = []
    for name in forgotten:
        person = ws.names.index(name)
        indices = (labels == person).nonzero().flatten()
        order = logits[indices].softmax(1)[:, person].argsort(descending=True, stable=True)
        photos += [(name, int(i)) for i in indices[order]]
    return photos


class SampleView(NamedTuple):
    photo: Image.Image
    caption: str
    session: Session


@computes  # orders the photos by the original's predictions: torch work, on the app's one compute thread
def forgotten_test_photo(checkpoint: str, session: Session | None) -> SampleView:
    """The next held-out test photo of a forgotten person (the model never trained on it), named, for
    visitors without a photo at hand; each click moves to the next one, through every forgotten person."""
    ws = open_workspace(checkpoint)
    check_forgotten(checkpoint, session)
    session = session_for(session, checkpoint)
    photos = held_out_photos(ws, session.forgotten)
    number = session.samples_shown % len(photos)
    name, index = photos[number]
    pixels = ws.split.test.images[index].permute(1, 2, 0).numpy()
    photo = Image.fromarray(pixels).resize((SAMPLE_SIZE, SAMPLE_SIZE), Image.BICUBIC)
    caption = (f"Held-out photo {number + 1} of {len(photos)}: **{figures.readable(name)}** (asked to be forgotten; "
               "no model trained on this photo; the photos the original named most surely come first). Click again "
               "for the next one.")
    return SampleView(photo, caption, replace(session, samples_shown=session.samples_shown + 1))


def check_photo(photo: dict | str | Image.Image | None) -> DetectedFace:
    """The largest face in the photo, or a gr.Error saying why there is none. The page calls it alone
    first (no outputs: a refusal, no face included, leaves no badge over the previous answer)."""
    if isinstance(photo, dict):
        photo = photo.get("path")
    if photo is None:
        raise gr.Error("Upload a photo or take one with the webcam first.", title="No photo")
    try:
        found = face_in_file(*file_version(photo)) if isinstance(photo, (str, os.PathLike)) else \
            largest_face(read_photo(photo))
    except PhotoError as error:
        raise gr.Error(str(error), title="Cannot use this photo") from error
    if found is None:
        raise gr.Error("No face found in this photo. Try one where the face is large, frontal and well lit.",
                       title="No face")
    return found


def file_version(path: str | os.PathLike) -> tuple[str, int]:
    try:
        return str(path), os.stat(path).st_mtime_ns
    except OSError:
        return str(path), 0  # read_photo says what is wrong with it


@functools.lru_cache(maxsize=8)
def face_in_file(path: str, modified: int) -> DetectedFace | None:
    """MTCNN once per photo: the page's check and the answer that follows it read the same file."""
    return largest_face(read_photo(path))


# Naming at the output is what hiding the output changes too: the page says where to look further.
OUTPUT_ONLY = ("Hiding a person at the output alone (the control) gives the same answer here; whether they are gone "
               "from inside the model is under *Can the forgotten people still be found inside the model?*")


def check_forgotten(checkpoint: str, session: Session | None) -> None:
    if not session_for(session, checkpoint).forgotten:
        raise gr.Error("Forget someone first: this picks one of their held-out test photos.", title="No one forgotten")


@computes
def recognise(photo: dict | str | Image.Image | None, checkpoint: str, session: Session | None) -> RecogniseView:
    """Find the largest face in a photo and ask both models who it is. The photo: Gradio's upload
    ({"path": ...}, which the page passes unopened), a file path, or an image."""
    found = check_photo(photo)
    ws = open_workspace(checkpoint)
    session = session_for(session, checkpoint)
    size = ws.card["image_size"]
    face = torch.from_numpy(np.array(found.crop.resize((size, size), Image.BILINEAR))).permute(2, 0, 1)[None]
    original = top_predictions(ws.model, face, ws.names)
    faces = f"{found.faces_found} faces found; asking about the largest." if found.faces_found > 1 else "Face found."
    if session.weights is None:
        calibrations = {"original": original_calibration(checkpoint)}
        return RecogniseView(found.crop, original, None,
                             f"{faces} Nothing is forgotten yet, so only the original answers.\n\n"
                             f"{verdict('Original', original, calibrations['original'])}.\n\n"
                             f"{threshold_note(calibrations)}")
    request = session.history[-1]
    calibrations = request.recognition
    unlearned = top_predictions(ws.model_with(session.weights, CPU), face, ws.names)
    return RecogniseView(found.crop, original, unlearned,
                         f"{faces} Asked to forget: {', '.join(figures.readable(n) for n in session.forgotten)}."
                         f"\n\n{verdict('Original', original, calibrations['original'])}; "
                         f"{verdict('Unlearned', unlearned, calibrations[request.method])}.\n\n"
                         f"{threshold_note(calibrations)} {OUTPUT_ONLY}")
