"""The gold standard: retrain from scratch without the forgotten people, as a third column."""
from __future__ import annotations

import copy
import math
import time
from dataclasses import replace
from typing import NamedTuple

import gradio as gr
import torch
from matplotlib.figure import Figure

from unsir.data import FaceTensors
from unsir.forgetting import forget
from unsir.training import bf16_helps, default_device, fit, loader

from .. import figures
from ..gpu import on_gpu
from ..workspace import ARCH_NAMES, workspace
from .features import model_map
from .forget import inside_short, inside_view, report_with, yardsticks
from .session import Session, on_phone, open_workspace, session_for
from .stopping import CancellableProgress, Cancelled, stop, stoppable
from .summary import comparison_columns, summary_table
from .unlearning import confidences, stage_progress
from .verdicts import status_line, test_photos

ESTIMATE_STEPS = 2  # training steps timed (after one to warm up) to estimate a retrain on this machine


def stop_retrain_of(request: gr.Request | None = None) -> None:
    """Stop the asking page's retrain, if one runs (Undo and Reset: it would bring back the session it started
    from); a comparison, a side view from the shipped model, goes on."""
    stop(request.session_hash if request is not None else None, "retrain")


def cancel_retrain(request: gr.Request | None = None) -> str:
    """Stop this visitor's retrain at its next training step (the earlier results stay)."""
    if stop(request.session_hash if request is not None else None, "retrain"):
        return "Cancelling the retrain: it stops at its next training step; the results above stay as they were."
    return ("No retrain is running for this page; one still being estimated or waiting for its turn will not "
            "start.")


@on_gpu(duration=300)  # ZeroGPU's longest (a retrain on one GPU: estimated, not measured, at well under it)
def retrain_from_scratch(checkpoint: str, forget_names: list[str], seed: int,
                         progress: CancellableProgress) -> dict | None:
    """The retrain baseline's report entry and confidences (the retrained model itself is not kept); None when
    the visitor cancelled (a plain value: an exception would reach the page as ZeroGPU's "worker error")."""
    ws = workspace(checkpoint)
    device = default_device()
    try:
        run = forget(ws.model_with(None, device), ws.card, ws.split, forget_names, methods={"retrain": None},
                     seed=seed, strangers=ws.strangers, original_predictions=ws.predictions(device),
                     progress=stage_progress(progress, 0.0, 0.95))
    except Cancelled:
        return None
    forget_classes = run.report["forget_classes"]
    return {"entry": run.report["methods"]["retrain"],
            "confidences": confidences(run.predictions["retrain"], ws.split, forget_classes),
            "map": model_map(run.predictions["retrain"], ws.split, forget_classes, seed)}


class RetrainView(NamedTuple):
    status: str
    summary: str
    per_identity: Figure
    histograms: Figure
    strangers: Figure
    inside: str | None
    feature_map: Figure | None
    report: dict
    session: Session
    retrain_note: str  # the estimate shown while it ran gives way to what it took


def check_retrain(checkpoint: str, session: Session | None) -> Session:
    open_workspace(checkpoint)
    session = session_for(session, checkpoint)
    if not session.history:
        raise gr.Error("Forget someone first: the gold standard retrains without the same people.",
                       title="Nothing to compare")
    if session.history[-1].method == "retrain":
        raise gr.Error("The unlearned model already is a retrain from scratch.", title="Nothing to add")
    return session


def retrain_column(checkpoint: str, session: Session | None, request: gr.Request = None,
                   progress=gr.Progress()) -> RetrainView:
    """Add the retrain-from-scratch column for the session's forget set (computed once per set)."""
    session = check_retrain(checkpoint, session)
    last = session.history[-1]
    key = (checkpoint, tuple(sorted(session.forgotten)))
    retrain = session.retrained.get(key)
    if retrain is None:
        with stoppable(progress, request, "retrain") as progress:
            retrain = retrain_from_scratch(checkpoint, session.forgotten, last.report["seed"], progress)
        if retrain is None:
            raise gr.Error("Retrain cancelled: the results above are unchanged.", title="Cancelled")
        session = replace(session, retrained={**session.retrained, key: retrain})
    columns = comparison_columns(last, retrain)
    narrow = on_phone(request)
    inside = inside_short(checkpoint, last, retrain)
    return RetrainView(
        f"{status_line(last, session.forgotten, test_photos(checkpoint), inside, retrain['entry'])}"
        "\n\nRetrained from scratch without them in "
        f"{retrain['entry']['seconds']:.0f} s: the gold standard unlearning is measured against.",
        summary_table(columns + yardsticks(checkpoint, last, retrain)),
        figures.per_identity_accuracy(columns, session.forgotten, narrow=narrow),
        figures.prediction_histograms(columns, session.forgotten, narrow=narrow),
        figures.stranger_confidence(columns, narrow=narrow),
        *inside_view(checkpoint, last, retrain, narrow),
        report_with(last, retrain),
        session,
        f"Retrained from scratch in {retrain['entry']['seconds']:.0f} s: its column is in the table below.",
    )


def retrain_estimate(checkpoint: str) -> str:
    """What retraining is (before anything is measured on this machine)."""
    card = open_workspace(checkpoint).card
    teacher = " (plus its teacher, retrained first)" if card.get("teacher") else ""
    return (f"Trains a new {ARCH_NAMES.get(card['arch'], card['arch'])} on the kept people only: the gold standard. "
            f"Training this model took {card['seconds'] / 60:.0f} min on {card['device']}{teacher}.")


@on_gpu(duration=60)  # where the retrain runs, on the device it trains on, behind any request already running
def seconds_per_retrain_step(checkpoint: str, forget_names: list[str]) -> tuple[float, int, int]:
    """Seconds per training step of the retrain without `forget_names`, its batch, and the kept photos."""
    ws = workspace(checkpoint)
    kept = ws.split.train.without_classes([ws.names.index(n) for n in forget_names])
    model = copy.deepcopy(ws.model).to(default_device())  # a copy: training moves BatchNorm's statistics
    optimiser = torch.optim.SGD(model.parameters(), lr=1e-9)
    batch = min(ws.card["recipe"]["batch_size"], len(kept))
    # Through `fit`, as the retrain trains (precision, layout, augmentation): a float32 step of its own estimated
    # 1.7x the retrain's time on the 2-core CPU.
    photos = loader(FaceTensors(kept.subset(torch.arange(batch)), augment=True), batch, torch.Generator())
    autocast = ws.card["recipe"].get("autocast", False) and bf16_helps(default_device())
    fit(model, photos, optimiser, autocast=autocast)  # warm-up
    started = time.perf_counter()
    fit(model, photos, optimiser, epochs=ESTIMATE_STEPS, autocast=autocast)
    return (time.perf_counter() - started) / ESTIMATE_STEPS, batch, len(kept)


def measure_retrain(checkpoint: str, session: Session | None) -> str:
    """Time a few training steps where the retrain will run and scale them to the whole retrain, before it starts."""
    session = check_retrain(checkpoint, session)
    if (checkpoint, tuple(sorted(session.forgotten))) in session.retrained:
        return "Already retrained for these people: shown from this session's cache."
    ws = open_workspace(checkpoint)
    per_step, batch, kept = seconds_per_retrain_step(checkpoint, session.forgotten)
    batch_size, epochs = ws.card["recipe"]["batch_size"], ws.card["recipe"]["epochs"]
    steps = math.ceil(kept / batch_size) * epochs
    teacher = " (and about as long again for its teacher)" if ws.card.get("teacher") else ""
    return (f"Retraining: estimated **{per_step * steps / 60:.1f} min** on this machine{teacher}, from "
            f"{per_step:.2f} s per batch of {batch} measured just now × {steps} batches ({epochs} epochs on "
            f"{kept} photos of the kept people). **Cancel** stops it.")
