"""Export: the unlearned weights (safetensors + card) and the audit report, in the session's own folder."""
from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import gradio as gr

from unsir.checkpoints import CARD, WEIGHTS
from unsir.methods import Outcome
from unsir.pipeline import save_unlearned
from unsir.reports import audit_report, to_json

from ..workspace import CPU
from .session import Session, open_workspace, session_for

AUDIT = "audit.json"




def export(checkpoint: str, session: Session | None) -> tuple[list[str], Session]:
    """The unlearned weights (safetensors + card) and an audit report, in the session's own folder."""
    ws = open_workspace(checkpoint)
    session = session_for(session, checkpoint)
    if not session.history:
        raise gr.Error("Nothing to export yet: forget someone first.", title="Nothing to export")
    folder = Path(session.export_dir or tempfile.mkdtemp(prefix="unsir-export-"))
    request = session.history[-1]
    entry = request.report["methods"][request.method]
    outcome = Outcome(ws.model_with(session.weights, CPU), data_read=entry["data_read"],
                      zero_glance=entry["zero_glance"], hyperparameters=entry["hyperparameters"])
    save_unlearned(outcome, ws.card, request.report, request.method, folder)
    audit = audit_report(request.report, request.method, checkpoint=checkpoint,
                         started_at=datetime.fromisoformat(session.history[0].started_at))
    audit["requests"] = request.report["requests"]
    (folder / AUDIT).write_text(to_json(audit))
    return [str(folder / WEIGHTS), str(folder / CARD), str(folder / AUDIT)], replace(session, export_dir=str(folder))
