"""The device function behind the Forget events: it runs the method on the session's model and returns
picklable CPU data only (ZeroGPU runs it in another process), what the method shows part-way first."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from unsir import metrics
from unsir.data import denormalise
from unsir.evaluation import Predictions, held_out_metrics, midway_held_out
from unsir.forgetting import HeldOut, forget_stream, resolve_identities
from unsir.methods.base import Midway
from unsir.training import default_device

from .. import figures
from ..gpu import on_gpu
from ..workspace import Workspace, workspace
from .features import FeatureEvidence, feature_evidence
from .recognition import calibrate

CAM_PHOTOS_PER_GROUP = 3  # GradCAM for this many forgotten and this many kept people
NOISE_SHOWN = (4, 8)  # identities x images of UNSIR's noise on screen


def stage_progress(progress, start: float, end: float):
    """Show the core's progress(stage, fraction) on [start, end] of the bar, named by stage."""
    def update(stage: str, fraction: float) -> None:
        progress(start + (end - start) * fraction, desc=stage)
    return update


def confidences(predictions: Predictions, split, forget_classes: list[int]) -> dict[str, list[float]]:
    """Max-softmax on every photo of the forgotten people (as the stranger distance uses) and on strangers."""
    forgotten = predictions.of_forgotten(split, forget_classes)
    return {"forgotten_confidence": metrics.softmax_confidence(forgotten).tolist(),
            "stranger_confidence": metrics.softmax_confidence(predictions.strangers).tolist()}


def showcase_indices(split, forget_classes: list[int]) -> list[int]:
    """Test photos for GradCAM: one each of the newest forgotten people, then of the first kept
    people (LFW classes run from the most photographed, so these are familiar faces)."""
    first: dict[int, int] = {}
    for index, label in enumerate(split.test.labels.tolist()):
        first.setdefault(label, index)
    kept = [first[c] for c in sorted(first) if c not in forget_classes]
    return [first[c] for c in forget_classes[-CAM_PHOTOS_PER_GROUP:]] + kept[:CAM_PHOTOS_PER_GROUP]


def cam_photos(ws: Workspace, model, forget_classes: list[int], device: torch.device) -> list[figures.CamPhoto]:
    # pytorch-grad-cam pulls in scikit-learn and OpenCV (about 1.5 s): imported on first use, not at startup.
    from unsir.explain import gradcam

    indices = showcase_indices(ws.split, forget_classes)
    images = ws.split.test.images[indices]
    labels = ws.split.test.labels[indices].tolist()
    pairs = zip(ws.original_cams(indices, device), gradcam(model, images))
    return [figures.CamPhoto(image.permute(1, 2, 0).numpy(), ws.names[label], label in forget_classes,
                             *[(e.overlay, ws.names[e.predicted], e.confidence) for e in pair])
            for image, label, pair in zip(images, labels, pairs)]


def noise_images(noise: torch.Tensor | None, identities: int) -> np.ndarray | None:
    """UNSIR's noise of the newest forgotten identities as uint8 [identities, images, H, W, 3]."""
    if noise is None:
        return None
    rows, columns = NOISE_SHOWN
    per_identity = noise.reshape(identities, -1, *noise.shape[1:])[-rows:, :columns]
    pixels = (denormalise(per_identity.flatten(0, 1)) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
    return pixels.reshape(*per_identity.shape[:2], *pixels.shape[1:]).numpy()


def chain_requests(report: dict, method: str, names: list[str], earlier: list[dict], distances_to_base) -> dict:
    """Record this request after the session's earlier ones. forget() took the session's current
    model as its input, while the page compares with the shipped model: on a further request the
    'original' hash and the layer distances are made to refer to the shipped model, and the
    chain of hashes request by request goes to `requests`."""
    entry = report["methods"][method]
    request = {"forget": names, "method": method, "control": entry["control"], "hyperparameters": entry["hyperparameters"],
               "seed": report["seed"], "zero_glance": entry["zero_glance"], "data_read": entry["data_read"],
               "sha256_before": report["sha256"]["original"], "sha256_after": entry["sha256"]}
    if earlier:
        report["sha256"]["original"] = report["original"]["sha256"] = earlier[0]["sha256_before"]
        entry["layer_distance_to_original"] = distances_to_base()
    report["requests"] = [*earlier, request]
    return report


def kept_accuracy(original: Predictions, unlearned: Predictions, split, forget_classes: list[int]
                  ) -> dict[str, tuple[float, float, int]]:
    """Each kept person's held-out accuracy before and after, with their number of held-out photos."""
    labels, count = split.test.labels, len(split.names)
    before = metrics.per_class_accuracy(original.test.argmax(1), labels, count)
    after = metrics.per_class_accuracy(unlearned.test.argmax(1), labels, count)
    photos = torch.bincount(labels, minlength=count).tolist()
    return {split.names[c]: (before[c], after[c], photos[c]) for c in range(count)
            if c not in forget_classes and photos[c]}


@dataclass
class Underway:
    """What a method shows part-way, before its first answer (picklable, as Unlearned is): UNSIR's learned noise,
    then the held-out accuracies after its impair beside the original's."""

    stage: str
    seconds: float
    noise: np.ndarray | None = None
    noise_per_person: int | None = None
    held_out: dict | None = None
    original: dict | None = None


def underway(step: Midway, ws: Workspace, forget_names: list[str], forget_classes: list[int], device, start
             ) -> Underway:
    """A method's midway step made picklable: its noise as images, its model measured on the held-out photos."""
    if step.model is None:
        per_person = len(step.noise) // len(forget_names) if step.noise is not None else None
        return Underway(step.stage, step.seconds, noise_images(step.noise, len(forget_names)), per_person)
    return Underway(step.stage, step.seconds, held_out=midway_held_out(step, ws.split, forget_classes, start),
                    original=held_out_metrics(ws.predictions(device).test, ws.split, forget_classes))


@dataclass
class Unlearned:
    """What the device function returns: picklable CPU data only (ZeroGPU runs it in another process)."""

    report: dict
    weights: dict[str, torch.Tensor]
    confidences: dict[str, dict[str, list[float]]]
    cams: list[figures.CamPhoto]
    noise: np.ndarray | None
    kept: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    recognition: dict[str, dict] = field(default_factory=dict)
    features: FeatureEvidence | None = None


@on_gpu(duration=180)
def unlearn(checkpoint: str, names: list[str], method: str, config, seed: int,
            weights: dict[str, torch.Tensor] | None, earlier: list[dict], progress
            ) -> Iterator[Underway | HeldOut | Unlearned]:
    """Forget `names` (on top of the session's earlier requests when `weights` is given): what the method shows
    part-way, the held-out accuracies as soon as they are known, then everything else."""
    ws = workspace(checkpoint)
    device = default_device()
    start = ws.model_with(weights, device)
    forget_names = [*(r for request in earlier for r in request["forget"]), *names]
    forget_classes = resolve_identities(forget_names, ws.names)
    frozen_start = ws.frozen_start(device)
    for step in forget_stream(start, ws.card, ws.split, forget_names, methods={method: config}, seed=seed,
                              strangers=ws.strangers, original_predictions=ws.predictions(device),
                              start=frozen_start, progress=stage_progress(progress, 0.0, 0.85)):
        if isinstance(step, Midway):
            yield underway(step, ws, forget_names, forget_classes, device, frozen_start)
        elif isinstance(step, HeldOut):
            yield step
    run = step
    model = run.outcomes[method].model
    report = chain_requests(run.report, method, names, earlier, lambda: metrics.layer_distances(model, ws.model))
    progress(0.87, desc="features: mapping what the model holds inside")
    evidence = feature_evidence(run, ws.split, method, seed)
    progress(0.9, desc="GradCAM: where each model looks")
    kept = [c for c in range(len(ws.names)) if c not in forget_classes]
    yield Unlearned(
        report,
        {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()},
        {"original": confidences(run.predictions["original"], ws.split, forget_classes),
         method: confidences(run.predictions[method], ws.split, forget_classes)},
        cam_photos(ws, model, forget_classes, device),
        noise_images(run.outcomes[method].noise, len(forget_names)),
        kept_accuracy(run.predictions["original"], run.predictions[method], ws.split, forget_classes),
        {model_name: calibrate(run.predictions[model_name], ws.split, kept) for model_name in ("original", method)},
        evidence,
    )
