"""Export: the unlearned weights (safetensors + card) and the audit report, in the session's own folder."""
from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import gradio as gr

from unsir.checkpoints import CARD, WEIGHTS, weights_sha256
from unsir.methods import Outcome
from unsir.pipeline import save_unlearned
from unsir.reports import audit_report, chain_reading, file_sha256, to_json

from ..workspace import CPU, models_dir
from .session import Session, open_workspace, session_for

AUDIT = "audit.json"


def yardsticks_measured(checkpoint: str, session: Session) -> dict[str, dict]:
    """What the page set beside the method: the control that only hides the output, and a retrain where one ran
    here for these people."""
    request = session.history[-1]
    references = {}
    if request.features is not None:
        references["control (logit-mask: the original with the forgotten outputs hidden; not unlearning)"] = \
            request.features.control
    retrain = session.retrained.get((checkpoint, tuple(sorted(session.forgotten))))
    if retrain is not None and request.method != "retrain":
        references["retrain (a model trained again without the forgotten people: the gold standard)"] = \
            retrain["entry"]
    return references


def check_export(checkpoint: str, session: Session | None) -> None:
    if not session_for(session, checkpoint).history:
        raise gr.Error("Nothing to export yet: forget someone first.", title="Nothing to export")


def export(checkpoint: str, session: Session | None) -> tuple[list[str], str, Session]:
    """The unlearned weights (safetensors + card) and an audit report, in the session's own folder, and a note
    with the audit's own sha256. The audit records the sha256 of the exact files (shipped and exported, as
    `sha256sum` prints them), the weights' own hash, every request (when, how long, what it measured) and a plain
    summary."""
    ws = open_workspace(checkpoint)
    check_export(checkpoint, session)
    session = session_for(session, checkpoint)
    folder = Path(session.export_dir or tempfile.mkdtemp(prefix="unsir-export-"))
    request = session.history[-1]
    entry = request.report["methods"][request.method]
    reading = chain_reading(entry, request.report["requests"])  # the model is zero-glance only if every request was
    model = ws.model_with(session.weights, CPU)
    if weights_sha256(model) != entry["sha256"]:  # the audit would describe other weights than the file holds
        raise gr.Error("This page's model is not the one its last request measured, so no audit could vouch for it: "
                       "nothing was exported. Reset and forget again.", title="Cannot export")
    shipped = models_dir() / checkpoint
    shipped_files = {name: file_sha256(shipped / name) for name in (WEIGHTS, CARD)}  # read before anything is written
    (folder / AUDIT).unlink(missing_ok=True)  # never an earlier export's audit beside these weights
    outcome = Outcome(model, data_read=reading.data_read, zero_glance=reading.zero_glance,
                      hyperparameters=entry["hyperparameters"])
    save_unlearned(outcome, ws.card, request.report, request.method, folder)
    audit = audit_report(request.report, request.method, checkpoint=checkpoint, requests=request.report["requests"],
                         shipped_files=shipped_files,
                         exported_files={name: file_sha256(folder / name) for name in (WEIGHTS, CARD)},
                         references=yardsticks_measured(checkpoint, session))
    (folder / AUDIT).write_text(to_json(audit))
    # The files vouch only for each other: a hash kept apart from them shows if the audit is changed later.
    note = (f"audit.json's sha256: `{file_sha256(folder / AUDIT)}`. Keep it, or publish it where others can see it: "
            "`unsir verify` prints the sha256 of the audit it is given, so an audit changed since shows.")
    return ([str(folder / WEIGHTS), str(folder / CARD), str(folder / AUDIT)], note,
            replace(session, export_dir=str(folder)))
