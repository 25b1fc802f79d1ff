"""Forgetting: the Forget / Forget them too / Reset events, the device function behind them, and
the before | after views they return (also used by the retrain column)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import partial
from typing import NamedTuple

import gradio as gr
import numpy as np
import torch
from matplotlib.figure import Figure

from unsir import metrics
from unsir.data import denormalise
from unsir.forgetting import ForgetError, Predictions, forget, resolve_identities
from unsir.methods import METHODS, check_settings, default_config
from unsir.reports import zero_glance_statement
from unsir.training import default_device

from .. import figures
from ..gpu import on_gpu
from ..workspace import Workspace, workspace
from .session import METHOD_LABELS, UNSIR_DEFAULTS, Request, Session, open_workspace, session_for

CAM_PHOTOS_PER_GROUP = 3  # GradCAM for this many forgotten and this many kept people
NOISE_SHOWN = (4, 8)  # identities x images of UNSIR's noise on screen


SUMMARY_ROWS = [  # (row label, report key, format)
    ("Kept people · test accuracy", "retain_test_acc", "{:.1%}"),
    ("Forgotten people · test accuracy", "forget_test_acc", "{:.1%}"),
    ("Kept people · train accuracy", "retain_train_acc", "{:.1%}"),
    ("Forgotten people · train accuracy", "forget_train_acc", "{:.1%}"),
    ("Membership attack: forgotten photos called 'trained on'", "mia_forget", "{:.1%}"),
    ("Distance from strangers (KS; 0 = like a stranger)", "stranger_ks", "{:.2f}"),
    ("Seconds to unlearn", "seconds", "{:.1f}"),
]


def method_config(method: str, card: dict, *, retain_per_id: int, noise_steps: int, noise_lambda: float,
                  impair_lr: float, repair_lr: float, cycles: str, notebook_faithful: bool):
    """The method's configuration: the core's defaults, with the Advanced panel's values for UNSIR
    (and the retain subset size for FineTune)."""
    if method not in METHODS:
        raise gr.Error(f"Unknown method {method!r}: choose one of {', '.join(METHODS)}.")
    panel = {"retain_per_id": retain_per_id, "noise_steps": noise_steps, "noise_lambda": noise_lambda,
             "impair_lr": impair_lr, "repair_lr": repair_lr}
    used = {"unsir": panel, "finetune": {"retain_per_id": retain_per_id}}.get(method, {})
    try:
        check_settings(used)  # names each value out of range, and the range
        if method == "unsir":
            config = replace(default_config(method, card), retain_per_id=int(retain_per_id),
                             noise_steps=int(noise_steps), noise_lambda=float(noise_lambda),
                             impair_lr=float(impair_lr), repair_lr=float(repair_lr), cycles=str(cycles).strip(),
                             notebook_faithful=bool(notebook_faithful))
            config.validate()  # the cycles
            return config
    except ValueError as error:
        raise gr.Error(str(error), title="Check the advanced settings") from error
    if method == "finetune":
        return replace(default_config(method, card), retain_per_id=int(retain_per_id))
    return default_config(method, card)


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
    request = {"forget": names, "method": method, "sha256_before": report["sha256"]["original"],
               "sha256_after": entry["sha256"]}
    if earlier:
        report["sha256"]["original"] = report["original"]["sha256"] = earlier[0]["sha256_before"]
        entry["layer_distance_to_original"] = distances_to_base()
    report["requests"] = [*earlier, request]
    return report


@dataclass
class Unlearned:
    """What the device function returns: picklable CPU data only (ZeroGPU runs it in another process)."""

    report: dict
    weights: dict[str, torch.Tensor]
    confidences: dict[str, dict[str, list[float]]]
    cams: list[figures.CamPhoto]
    noise: np.ndarray | None


@on_gpu(duration=180)
def unlearn(checkpoint: str, names: list[str], method: str, config, seed: int,
            weights: dict[str, torch.Tensor] | None, earlier: list[dict], progress) -> Unlearned:
    """Forget `names` (on top of the session's earlier requests when `weights` is given)."""
    ws = workspace(checkpoint)
    device = default_device()
    start = ws.model_with(weights, device)
    forget_names = [*(r for request in earlier for r in request["forget"]), *names]
    run = forget(start, ws.card, ws.split, forget_names, methods={method: config}, seed=seed,
                 strangers=ws.strangers, original_predictions=ws.predictions(device),
                 progress=stage_progress(progress, 0.0, 0.85))
    model, forget_classes = run.outcomes[method].model, run.report["forget_classes"]
    report = chain_requests(run.report, method, names, earlier, lambda: metrics.layer_distances(model, ws.model))
    progress(0.9, desc="GradCAM: where each model looks")
    return Unlearned(
        report,
        {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()},
        {"original": confidences(run.predictions["original"], ws.split, forget_classes),
         method: confidences(run.predictions[method], ws.split, forget_classes)},
        cam_photos(ws, model, forget_classes, device),
        noise_images(run.outcomes[method].noise, len(forget_names)),
    )


class ForgetView(NamedTuple):
    """The results area, in the order of the event's outputs."""

    status: str | None
    summary: str | None
    per_identity: Figure | None
    histograms: Figure | None
    strangers: Figure | None
    gradcam: Figure | None
    noise: Figure | None
    layers: Figure | None
    report: dict | None
    session: Session


def comparison_columns(request: Request, retrain: dict | None) -> list[figures.Column]:
    columns = [
        figures.Column("Original", figures.ORIGINAL, request.report["original"], **request.confidences["original"]),
        figures.Column(f"Unlearned · {METHOD_LABELS[request.method]}", figures.UNLEARNED,
                       request.report["methods"][request.method], **request.confidences[request.method]),
    ]
    if retrain is not None and request.method != "retrain":
        columns.append(figures.Column("Retrained from scratch", figures.RETRAINED, retrain["entry"],
                                      **retrain["confidences"]))
    return columns


def summary_table(columns: list[figures.Column]) -> str:
    """A Markdown table of the measures, one column per model."""
    def cell(entry: dict, key: str, template: str) -> str:
        value = entry.get(key)
        return "—" if value is None or value != value else template.format(value)  # value != value: NaN

    lines = ["| Measure | " + " | ".join(c.title for c in columns) + " |", "|---|" + "---:|" * len(columns)]
    lines += [f"| {label} | " + " | ".join(cell(c.entry, key, template) for c in columns) + " |"
              for label, key, template in SUMMARY_ROWS]
    return "\n".join(lines)


def report_with(request: Request, retrain: dict | None) -> dict:
    """The JSON summary: the CLI report, with the retrain column's entry when there is one."""
    if retrain is None or request.method == "retrain":
        return request.report
    return {**request.report, "methods": {**request.report["methods"], "retrain": retrain["entry"]}}


def status_line(request: Request, forgotten: list[str]) -> str:
    entry = request.report["methods"][request.method]
    asked = ", ".join(figures.readable(n) for n in request.names)
    return (f"**Forgot {asked}** with {METHOD_LABELS[request.method]} in {entry['seconds']:.1f} s on "
            f"{request.report['device']}. {zero_glance_statement(entry)}\n\n"
            f"Forgotten so far: {', '.join(figures.readable(n) for n in forgotten)}.")


def forget_faces(
    names: list[str] | None,
    checkpoint: str,
    method: str = "unsir",
    retain_per_id: int = UNSIR_DEFAULTS.retain_per_id,
    noise_steps: int = UNSIR_DEFAULTS.noise_steps,
    noise_lambda: float = UNSIR_DEFAULTS.noise_lambda,
    impair_lr: float = UNSIR_DEFAULTS.impair_lr,
    repair_lr: float = UNSIR_DEFAULTS.repair_lr,
    cycles: str = UNSIR_DEFAULTS.cycles,
    seed: int = 0,
    notebook_faithful: bool = UNSIR_DEFAULTS.notebook_faithful,
    session: Session | None = None,
    on_top: bool = False,
    progress=gr.Progress(),
) -> ForgetView:
    """Forget `names` from the original model, or (`on_top`) from the session's unlearned one."""
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    ws = open_workspace(checkpoint)
    session = session_for(session, checkpoint)
    names = [str(n).strip() for n in names or [] if str(n).strip()]
    history = session.history if on_top else ()
    earlier_names = history[-1].report["forget"] if history else []
    try:
        resolve_identities(names, ws.names)  # the core's messages for empty, unknown or repeated names
        again = [n for n in names if n in earlier_names]
        if again:
            raise ForgetError(f"Already forgotten: {', '.join(again)}. Pick someone else, or reset to the original.")
        resolve_identities([*earlier_names, *names], ws.names)  # keeps at least one person
    except ForgetError as error:
        raise gr.Error(str(error), title="Cannot forget") from error
    config = method_config(method, ws.card, retain_per_id=retain_per_id, noise_steps=noise_steps,
                           noise_lambda=noise_lambda, impair_lr=impair_lr, repair_lr=repair_lr, cycles=cycles,
                           notebook_faithful=notebook_faithful)
    result = unlearn(checkpoint, names, method, config, int(seed), session.weights if history else None,
                     history[-1].report["requests"] if history else [], progress)
    progress(0.97, desc="drawing the results")
    request = Request(names, method, result.report, result.confidences, started_at)
    session = replace(session, weights=result.weights, history=(*history, request))
    forgotten = session.forgotten
    retrain = session.retrained.get((checkpoint, tuple(sorted(forgotten))))
    columns = comparison_columns(request, retrain)
    noise = (figures.noise_grid(result.noise, forgotten[-len(result.noise):]) if result.noise is not None
             else figures.message_figure(f"{METHOD_LABELS[method]} learns no noise: only UNSIR does."))
    distance_from = "the original" + (" (all requests together)" if history else "")
    return ForgetView(
        status_line(request, forgotten),
        summary_table(columns),
        figures.per_identity_accuracy(columns, forgotten),
        figures.prediction_histograms(columns, forgotten),
        figures.stranger_confidence(columns),
        figures.gradcam_grid(result.cams),
        noise,
        figures.layer_distances(result.report["methods"][method]["layer_distance_to_original"],
                                f"How far each layer's weights moved from {distance_from} (L2)"),
        report_with(request, retrain),
        session,
    )


forget_more = partial(forget_faces, on_top=True)


def reset(checkpoint: str, session: Session | None) -> ForgetView:
    """Back to the original model: the session's unlearned weights and history are dropped."""
    session = session_for(session, checkpoint)
    fresh = Session(checkpoint, retrained=session.retrained, export_dir=session.export_dir)
    return ForgetView("Back to the original model: nothing is forgotten.", *[None] * 8, fresh)
