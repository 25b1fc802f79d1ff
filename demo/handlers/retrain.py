"""The gold standard: retrain from scratch without the forgotten people, as a third column."""
from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import gradio as gr
from matplotlib.figure import Figure

from unsir.forgetting import forget
from unsir.training import default_device

from .. import figures
from ..gpu import on_gpu
from ..workspace import ARCH_NAMES, workspace
from .forget import comparison_columns, confidences, report_with, stage_progress, status_line, summary_table
from .session import Session, open_workspace, session_for



@on_gpu(duration=600)
def retrain_from_scratch(checkpoint: str, forget_names: list[str], seed: int, progress) -> dict:
    """The retrain baseline's report entry and confidences (the retrained model itself is not kept)."""
    ws = workspace(checkpoint)
    device = default_device()
    run = forget(ws.model_with(None, device), ws.card, ws.split, forget_names, methods={"retrain": None}, seed=seed,
                 strangers=ws.strangers, original_predictions=ws.predictions(device),
                 progress=stage_progress(progress, 0.0, 0.95))
    return {"entry": run.report["methods"]["retrain"],
            "confidences": confidences(run.predictions["retrain"], ws.split, run.report["forget_classes"])}


class RetrainView(NamedTuple):
    status: str
    summary: str
    per_identity: Figure
    histograms: Figure
    strangers: Figure
    report: dict
    session: Session


def retrain_column(checkpoint: str, session: Session | None, progress=gr.Progress()) -> RetrainView:
    """Add the retrain-from-scratch column for the session's forget set (computed once per set)."""
    open_workspace(checkpoint)
    session = session_for(session, checkpoint)
    if not session.history:
        raise gr.Error("Forget someone first: the gold standard retrains without the same people.",
                       title="Nothing to compare")
    request = session.history[-1]
    if request.method == "retrain":
        raise gr.Error("The unlearned model already is a retrain from scratch.", title="Nothing to add")
    key = (checkpoint, tuple(sorted(session.forgotten)))
    retrain = session.retrained.get(key)
    if retrain is None:
        retrain = retrain_from_scratch(checkpoint, session.forgotten, request.report["seed"], progress)
        session = replace(session, retrained={**session.retrained, key: retrain})
    columns = comparison_columns(request, retrain)
    return RetrainView(
        f"{status_line(request, session.forgotten)}\n\nRetrained from scratch without them in "
        f"{retrain['entry']['seconds']:.0f} s: the gold standard unlearning is measured against.",
        summary_table(columns),
        figures.per_identity_accuracy(columns, session.forgotten),
        figures.prediction_histograms(columns, session.forgotten),
        figures.stranger_confidence(columns),
        report_with(request, retrain),
        session,
    )


def retrain_estimate(checkpoint: str) -> str:
    card = open_workspace(checkpoint).card
    teacher = " (plus its teacher, retrained first)" if card.get("teacher") else ""
    return (f"Trains a new {ARCH_NAMES.get(card['arch'], card['arch'])} on the kept people only: the gold standard. "
            f"Training this model took {card['seconds'] / 60:.0f} min on {card['device']}{teacher}.")
