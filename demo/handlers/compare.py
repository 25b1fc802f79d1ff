"""Compare methods: several methods forget the same people from the shipped model, shown side by
side with the original, and with the retrained model when Retrain is among them (otherwise, for a shipped model,
the range the benchmark's retrained models reached).

A comparison is a side view: it leaves the visitor's own unlearned model and its history alone.
"""
from __future__ import annotations

from typing import NamedTuple

import gradio as gr
from matplotlib.figure import Figure

from unsir.evaluation import moved_in_features
from unsir.forgetting import ForgetError, forget, resolve_identities
from unsir.methods import METHODS, configure
from unsir.training import default_device

from .. import figures
from ..gpu import on_gpu
from ..workspace import workspace
from .features import MEASURES, benchmark_reference, reference_title
from .unlearning import cam_photos, confidences, stage_progress
from .summary import SUMMARY_ROWS, Row, summary_table
from .verdicts import FORGOTTEN_AT_MOST, test_photos
from .session import METHOD_LABELS, checked_seed, on_phone, open_workspace, warn_untuned
from .stopping import CancellableProgress, Cancelled, stoppable

# Columns by colour: the original (blue) and the retrained (green) keep theirs, the methods take these in turn.
METHOD_COLOURS = [figures.UNLEARNED, "#862e9c", "#0b7285", "#c2255c", "#5f3dc4", "#e8590c", "#1864ab", "#868e96"]
# The features panel's measures, less those the summary already has a row for (the stranger distance).
INSIDE_ROWS = [Row(m.label, m.key, "{:.0%}" if m.percent else "{:.2f}", m.meaning) for m in MEASURES
               if m.key not in {row.key for row in SUMMARY_ROWS}]


class CompareView(NamedTuple):
    """The comparison area, in the order of the event's outputs."""

    compare_status: str
    compare_summary: str
    compare_per_identity: Figure
    compare_histograms: Figure
    compare_strangers: Figure
    compare_gradcam: Figure
    compare_report: dict


class Compared(NamedTuple):
    """What the device function returns: picklable CPU data only (ZeroGPU runs it in another process)."""

    report: dict
    confidences: dict[str, dict[str, list[float]]]  # "original" / method -> Column confidence fields
    cams: dict[str, list[figures.CamPhoto]]  # method -> the same photos, each model's GradCAM


def check_compare(names: list[str] | None, checkpoint: str, methods: list[str] | None) -> tuple[list[str], dict]:
    """The names and each method's default configuration, or a gr.Error saying what is wrong."""
    ws = open_workspace(checkpoint)
    names = [str(n).strip() for n in names or [] if str(n).strip()]
    chosen = list(dict.fromkeys(methods or []))
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or len(chosen) < 2:
        raise gr.Error(f"Choose two or more methods to compare (from {', '.join(METHODS)})"
                       + (f"; unknown: {', '.join(map(str, unknown))}." if unknown else "."), title="Cannot compare")
    try:
        resolve_identities(names, ws.names)
    except ForgetError as error:
        raise gr.Error(str(error).replace(", listed in its card.json", ""), title="Cannot compare") from error
    return names, {m: configure(m, ws.card, forget_count=len(names)) for m in chosen}


@on_gpu(duration=300)  # ZeroGPU's longest; on one GPU the methods take seconds each
def run_methods(checkpoint: str, names: list[str], configs: dict, seed: int,
                progress: CancellableProgress) -> Compared | None:
    """Every chosen method, one after the other, on the same people, from the shipped model; None when the page
    stopped it (a plain value: an exception would reach the page as ZeroGPU's "worker error")."""
    ws = workspace(checkpoint)
    device = default_device()
    try:
        run = forget(ws.model_with(None, device), ws.card, ws.split, names, methods=configs, seed=seed,
                     strangers=ws.strangers, original_predictions=ws.predictions(device),
                     start=ws.frozen_start(device),
                     progress=stage_progress(progress, 0.0, 0.9))
    except Cancelled:
        return None
    forget_classes = run.report["forget_classes"]
    progress(0.92, desc="GradCAM: where each model looks")
    return Compared(
        run.report,
        {model: confidences(predictions, ws.split, forget_classes) for model, predictions in run.predictions.items()},
        {name: cam_photos(ws, outcome.model, forget_classes, device) for name, outcome in run.outcomes.items()},
    )


def compare_methods(names: list[str] | None, checkpoint: str, methods: list[str] | None, seed: int = 0,
                    request: gr.Request | None = None, progress=gr.Progress()) -> CompareView:
    """Run two or more methods on the same people and show them as columns next to the original."""
    names, configs = check_compare(names, checkpoint, methods)
    warn_untuned(configs, checkpoint)
    with stoppable(progress, request, "comparison") as cancellable_progress:
        compared = run_methods(checkpoint, names, configs, checked_seed(seed), cancellable_progress)
    if compared is None:
        raise gr.Error("Comparison stopped: nothing was compared.", title="Stopped")
    progress(0.97, desc="drawing the comparison")
    return comparison_view(checkpoint, compared, narrow=on_phone(request))


def comparison_view(checkpoint: str, compared: Compared, narrow: bool = False) -> CompareView:
    """The comparison's table and charts (`narrow`: drawn for a phone)."""
    report, forgotten = compared.report, compared.report["forget"]
    columns = [figures.Column("Original", figures.ORIGINAL, report["original"], **compared.confidences["original"])]
    methods = [name for name in report["methods"] if name != "retrain"]
    for name, entry in report["methods"].items():
        colour = figures.RETRAINED if name == "retrain" else METHOD_COLOURS[methods.index(name) % len(METHOD_COLOURS)]
        columns.append(figures.Column(METHOD_LABELS.get(name, name), colour, entry, **compared.confidences[name]))
    # Without Retrain among the methods, the summary sets them beside what the benchmark's retrained models reached
    # (the charts have no place for a range).
    reference = None if "retrain" in report["methods"] else benchmark_reference(checkpoint, len(forgotten))
    yardsticks = [] if reference is None else [figures.Column(reference_title(reference), figures.RETRAINED,
                                                              reference.ranges, [], [])]
    first = next(iter(compared.cams.values()))
    rows = [(METHOD_LABELS.get(name, name), [photo.unlearned for photo in photos])
            for name, photos in compared.cams.items()]
    return CompareView(
        plain_words(report, test_photos(checkpoint), checkpoint),
        summary_table([*columns, *yardsticks], [*SUMMARY_ROWS, *INSIDE_ROWS]),
        figures.per_identity_accuracy(columns, forgotten, narrow=narrow),
        figures.prediction_histograms(columns, forgotten, narrow=narrow),
        figures.stranger_confidence(columns, narrow=narrow),
        figures.gradcam_grid(first, rows, narrow=narrow),
        report,
    )


def plain_words(report: dict, photos: dict[str, int], checkpoint: str) -> str:
    """One line per method: time, who is no longer named, what the kept people kept, what the features still
    hold (and whether the method moved it at all), and whether it read the forgotten people's photos."""
    original = report["original"]
    retrain = report["methods"].get("retrain")
    lines = [f"**Compared on {', '.join(figures.readable(n) for n in report['forget'])}** (seed {report['seed']}, "
             f"{report['device']}), every method from the shipped model {checkpoint} with its default settings:", ""]
    for name, entry in report["methods"].items():
        per_person = entry["forget_per_identity_test_acc"]
        gone = sum(1 for a in per_person.values() if a == a and a <= FORGOTTEN_AT_MOST)
        knn = entry.get("feature_knn_forget_acc")
        inside = "—" if knn is None else (
            f"kNN finds {knn:.0%} of their held-out photos (original {original['feature_knn_forget_acc']:.0%}"
            + (f", retrained {retrain['feature_knn_forget_acc']:.0%}" if retrain and name != "retrain" else "") + ")"
            + (": not moved" if moved_in_features(original, entry) is False else ""))
        read = "no" if entry["zero_glance"] else f"yes ({entry['data_read']})"
        kind = " (control: hides the output, not unlearning)" if entry["control"] else ""
        lines.append(f"- **{METHOD_LABELS.get(name, name)}**{kind}: {entry['seconds']:.1f} s · no longer names "
                     f"{gone} of {len(per_person)} people (≤ {FORGOTTEN_AT_MOST:.0%} of their photos named) · kept "
                     f"people {entry['retain_test_acc']:.1%} (original {original['retain_test_acc']:.1%}) · in the "
                     f"features: {inside} · read forgotten photos: {read}")
    held_out = sum(photos[n] for n in report["forget"])
    lines += ["", f"*{held_out} held-out photos of the forgotten people; a retrained model is the goal for the "
                  "features, not zero (faces look alike).*"]
    return "\n".join(lines)
