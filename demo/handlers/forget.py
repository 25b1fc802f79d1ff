"""Forgetting: the Forget / Forget them too / Undo / Reset events and the before | after views they return
(also used by the retrain column); the device function behind them is in `unlearning`."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone
from functools import partial
from typing import NamedTuple

import gradio as gr
from matplotlib.figure import Figure

from unsir.forgetting import ForgetError, HeldOut, resolve_identities
from unsir.methods import METHODS, configure, settings
from unsir.reports import METRIC_KEYS

from .. import figures
from ..compute import computes
from .features import evidence_table, inside_verdict
from .session import (METHOD_LABELS, Request, Session, checked_seed, on_phone, open_workspace, session_for,
                      warn_untuned)
from .stopping import claimed, running, waiting
from .summary import SUMMARY_ROWS, comparison_columns, reference_columns, summary_table
from .unlearning import Underway, unlearn  # looked up here at each click: the app tests wrap it
from .verdicts import collateral_damage, status_line, test_photos, verdict_lines

LOG = logging.getLogger(__name__)
NAMED_WHILE_RUNNING = 5  # a stage's status names this many people at most (the verdicts then name each)


# An Advanced-panel setting a caller leaves out: the core's default for the model's architecture.
MODEL_DEFAULT = object()


def method_config(method: str, card: dict, *, forget_count: int, retain_per_id, noise_steps, noise_lambda, impair_lr,
                  repair_lr, cycles, notebook_faithful):
    """The method's configuration: the core's defaults for the model and for `forget_count` people, with the
    Advanced panel's values for the settings the method has (UNSIR all of them; the others that train on a retain
    subset its size). A setting given as MODEL_DEFAULT, or left at the value the panel shows (UNSIR's defaults for
    the model), keeps the method's own default for this many people; an emptied field (None) is refused with the
    range."""
    if method not in METHODS:
        raise gr.Error(f"Unknown method {method!r}: choose one of {', '.join(METHODS)}.")
    panel = {"retain_per_id": retain_per_id, "noise_steps": noise_steps, "noise_lambda": noise_lambda,
             "impair_lr": impair_lr, "repair_lr": repair_lr, "cycles": cycles, "notebook_faithful": notebook_faithful}
    own = {name: value for name, value in panel.items()
           if value is not MODEL_DEFAULT and name in settings(METHODS[method].config)}
    if "cycles" in own:
        own["cycles"] = str(own["cycles"] or "").strip()
    if "notebook_faithful" in own:
        own["notebook_faithful"] = bool(own["notebook_faithful"])
    try:
        shown = configure("unsir", card)  # the panel shows UNSIR's defaults, whichever method is chosen
        own = {name: value for name, value in own.items() if value is None or value != getattr(shown, name)}
        return configure(method, card, own, forget_count=forget_count)  # names each value out of range, and the range
    except ValueError as error:
        raise gr.Error(str(error), title="Check the advanced settings") from error


class ForgetView(NamedTuple):
    """The results area, in the order of the event's outputs."""

    status: str | None
    summary: str | None
    collateral: str | None
    per_identity: Figure | None
    histograms: Figure | None
    strangers: Figure | None
    gradcam: Figure | None
    noise: Figure | None
    layers: Figure | None
    inside: str | None
    feature_map: Figure | None
    report: dict | None
    session: Session
    results_area: gr.Column  # shown with the first answer, hidden when there is nothing to show


class ResetView(NamedTuple):
    """Every section back to empty: the results, the photo check, the sample caption and the downloads (with
    their note)."""

    status: str
    summary: None
    collateral: None
    per_identity: None
    histograms: None
    strangers: None
    gradcam: None
    noise: None
    layers: None
    inside: None
    feature_map: None
    report: None
    face: None
    original_top: None
    unlearned_top: None
    note: str
    sample_caption: str
    downloads: None
    export_note: str
    session: Session


def report_with(request: Request, retrain: dict | None) -> dict:
    """The JSON summary: the CLI report, with the retrain column's entry when there is one."""
    if retrain is None or request.method == "retrain":
        return request.report
    return {**request.report, "methods": {**request.report["methods"], "retrain": retrain["entry"]}}


def check_request(names: list[str] | None, checkpoint: str, method: str = "unsir",
                  retain_per_id: int = MODEL_DEFAULT, noise_steps: int = MODEL_DEFAULT,
                  noise_lambda: float = MODEL_DEFAULT, impair_lr: float = MODEL_DEFAULT,
                  repair_lr: float = MODEL_DEFAULT, cycles: str = MODEL_DEFAULT, seed: int = 0,
                  notebook_faithful: bool = MODEL_DEFAULT, session: Session | None = None, on_top: bool = False):
    """The request's names (cleaned) and the method's configuration, or a gr.Error saying what is wrong.
    The page calls it alone first (no outputs: a refusal leaves no badge over earlier results)."""
    ws = open_workspace(checkpoint)
    session = session_for(session, checkpoint)
    names = [str(n).strip() for n in names or [] if str(n).strip()]
    earlier_names = session.forgotten if on_top else []
    checked_seed(seed)
    try:
        resolve_identities(names, ws.names)  # the core's messages for empty, unknown or repeated names
        again = [n for n in names if n in earlier_names]
        if again:
            raise ForgetError(f"Already forgotten: {', '.join(again)}. Pick someone else, or reset to the original.")
        resolve_identities([*earlier_names, *names], ws.names)  # keeps at least one person
    except ForgetError as error:
        message = str(error).replace(", listed in its card.json", "")
        raise gr.Error(message, title="Cannot forget") from error
    return names, method_config(method, ws.card, forget_count=len(earlier_names) + len(names),
                                retain_per_id=retain_per_id, noise_steps=noise_steps,
                                noise_lambda=noise_lambda, impair_lr=impair_lr, repair_lr=repair_lr, cycles=cycles,
                                notebook_faithful=notebook_faithful)


check_more = partial(check_request, on_top=True)


def forget_asked(page: gr.Request | None = None) -> None:
    """The click's Forget passed its check and now waits for its turn: Undo pressed before it starts stops it."""
    waiting(page, "forget")


def request_record(record: dict, entry: dict, kept: dict, started_at: str, finished_at: str, seconds: float) -> dict:
    """The audit's line for one request: when, how long, and what it measured, person by person."""
    return {**record, "started_at": started_at, "finished_at": finished_at, "seconds": round(seconds, 3),
            "unlearning_seconds": entry["seconds"],
            "metrics": {key: entry.get(key) for key in METRIC_KEYS},
            "forget_per_identity_test_acc": entry["forget_per_identity_test_acc"],
            "retain_per_identity_test_acc": {name: after for name, (_, after, _) in kept.items()}}


@computes  # the whole click, drawing included: see demo/compute.py
def forget_faces(
    names: list[str] | None,
    checkpoint: str,
    method: str = "unsir",
    retain_per_id: int = MODEL_DEFAULT,
    noise_steps: int = MODEL_DEFAULT,
    noise_lambda: float = MODEL_DEFAULT,
    impair_lr: float = MODEL_DEFAULT,
    repair_lr: float = MODEL_DEFAULT,
    cycles: str = MODEL_DEFAULT,
    seed: int = 0,
    notebook_faithful: bool = MODEL_DEFAULT,
    session: Session | None = None,
    on_top: bool = False,
    page: gr.Request | None = None,  # the browser's request (Gradio passes it); `request` is a forget request here
    progress=gr.Progress(),
) -> Iterator[ForgetView]:
    """Forget `names` from the original model, or (`on_top`) from the session's unlearned one: the
    verdicts and held-out accuracies as soon as they are known, then every result."""
    with running(page, "forget"):
        started = time.perf_counter()
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        session = session_for(session, checkpoint)
        names, config = check_request(names, checkpoint, method, retain_per_id, noise_steps, noise_lambda, impair_lr,
                                      repair_lr, cycles, seed, notebook_faithful, session, on_top)
        warn_untuned([method], checkpoint)
        history = session.history if on_top else ()
        earlier = history[-1].report["requests"] if history else []
        forgotten = [*(n for request in earlier for n in request["forget"]), *names]
        noise_shown = shown = False
        try:
            for step in unlearn(checkpoint, names, method, config, checked_seed(seed),
                                session.weights if history else None, earlier, progress):
                if isinstance(step, Underway):
                    yield underway_view(method, step, forgotten, session, noise_shown, narrow=on_phone(page))
                    noise_shown = noise_shown or step.noise is not None
                elif isinstance(step, HeldOut):
                    yield first_answer(checkpoint, names, step, forgotten, session, noise_shown, earlier)
                shown = True
        except gr.Error:
            raise
        except Exception as error:
            if shown:  # the page shows a run that will not end: it says so, and that nothing was kept
                yield stopped_view(method, session)
            # In words, not Gradio's bare "Error"; the traceback goes to the server's log.
            LOG.exception("%s stopped on %s", method, names)
            raise gr.Error(f"{METHOD_LABELS.get(method, method)} stopped before it ended ({type(error).__name__}: "
                           f"{str(error)[:200]}). Nothing was kept: try again, or ask for fewer people at a time.",
                           title="Stopped") from error
        result = step
        progress(0.97, desc="drawing the results")
        finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        seconds = time.perf_counter() - started
        report = result.report
        report["requests"][-1] = request_record(report["requests"][-1], report["methods"][method], result.kept,
                                                started_at, finished_at, seconds)
        request = Request(names, method, report, result.confidences, started_at, finished_at, seconds,
                          tuple(result.cams), result.noise, result.kept, result.recognition, result.features)
        session = replace(session, weights=result.weights, previous_weights=session.weights if history else None,
                          history=(*history, request), samples_shown=0)
        yield results_view(checkpoint, session, narrow=on_phone(page))


def stopped_view(method: str, session: Session) -> ForgetView:
    """What the page says when a request fails after showing some of its stages or answers."""
    label = METHOD_LABELS.get(method, method)
    return ForgetView(f"**{label} stopped before it ended.** Nothing was kept: the model is as it was before this "
                      "request. Try again; if it stops again, ask for fewer people at a time.", *[None] * 11, session,
                      gr.Column(visible=False))


def underway_view(method: str, step: Underway, forgotten: list[str], session: Session, noise_shown: bool,
                  narrow: bool = False) -> ForgetView:
    """A stage of the method as it runs, said to be one (not a result): UNSIR's noise once learned, the held-out
    accuracies after its impair. The earlier results are cleared (they describe another model); the noise stays
    on screen once shown; the session is unchanged until the request completes."""
    label = METHOD_LABELS.get(method, method)
    people = (", ".join(figures.readable(n) for n in forgotten) if len(forgotten) <= NAMED_WHILE_RUNNING
              else f"the {len(forgotten)} people asked")
    if step.held_out is None:
        noise = figures.noise_grid(step.noise, forgotten[-len(step.noise):], len(forgotten), step.noise_per_person,
                                   narrow=narrow)
        status = (f"**{label} is running: its noise is learned** ({step.seconds:.1f} s). For {people}: "
                  f"{step.noise_per_person} images per person that maximise the model's error on them, learned from "
                  "the model alone, without reading a photo of them (below). Next it impairs the model on this "
                  "noise, then repairs it on photos of the kept people.")
    else:
        noise = gr.skip() if noise_shown else None
        after, before = step.held_out, step.original
        whose = f"{people}'s" if len(forgotten) == 1 else "the forgotten people's"
        status = (f"**{label} is running: the model is impaired** ({step.seconds:.1f} s). Damaged on purpose, it "
                  f"now names {after['forget_test_acc']:.0%} of {whose} "
                  f"{after['n_forget_test']} held-out photos (the original: {before['forget_test_acc']:.0%}) and "
                  f"{after['retain_test_acc']:.0%} of the kept people's (the original: "
                  f"{before['retain_test_acc']:.0%}). Next the repair trains it on photos of the kept people only, "
                  "to restore them.")
    status += "\n\n*A stage, not the result: the verdicts follow when every stage has run.*"
    return ForgetView(status, *[None] * 11, session, gr.Column(visible=True))._replace(noise=noise)


def first_answer(checkpoint: str, names: list[str], held_out: HeldOut, forgotten: list[str], session: Session,
                 noise_shown: bool = False, earlier: list[dict] = ()) -> ForgetView:
    """The verdicts and the held-out rows of the summary (beside the output-hiding control, as the final table)
    while the rest is measured; the earlier results are cleared (they describe another model), a noise the
    method showed while it ran stays, and the session is unchanged until the request completes."""
    columns = [figures.Column("Original", figures.ORIGINAL, held_out.original, [], []),
               figures.Column(f"Unlearned · {METHOD_LABELS.get(held_out.method, held_out.method)}", figures.UNLEARNED,
                              held_out.entry, [], []),
               *reference_columns(held_out.control, len(forgotten), None, checkpoint)]
    rows = [row for row in SUMMARY_ROWS if row.key in held_out.entry]
    return ForgetView(verdict_lines(held_out.method, names, held_out.entry, held_out.device, forgotten,
                                    test_photos(checkpoint), measuring=True, earlier=earlier),
                      summary_table(columns, rows), *[None] * 10, session,
                      gr.Column(visible=True))._replace(noise=gr.skip() if noise_shown else None)


forget_more = partial(forget_faces, on_top=True)
forget_more.__doc__ = "Forget `names` too, on top of the session's unlearned model (earlier requests are kept)."


def yardsticks(checkpoint: str, request: Request, retrain: dict | None) -> list[figures.Column]:
    """The request's `reference_columns`: its control, and the benchmark's retrained models until one runs here."""
    control = request.features.control if request.features is not None else None
    people = len(request.report["methods"][request.method]["forget_per_identity_test_acc"])
    return reference_columns(control, people, retrain, checkpoint)


def results_view(checkpoint: str, session: Session, narrow: bool = False) -> ForgetView:
    """The results area for the session's latest request (`narrow`: charts drawn for a phone)."""
    request = session.history[-1]
    forgotten = session.forgotten
    retrain = session.retrained.get((checkpoint, tuple(sorted(forgotten))))
    columns = comparison_columns(request, retrain)
    entry = request.report["methods"][request.method]
    label = METHOD_LABELS.get(request.method, request.method)
    if request.noise is not None:
        per_person = entry["hyperparameters"].get("noise_per_identity")
        noise = figures.noise_grid(request.noise, forgotten[-len(request.noise):], len(forgotten), per_person,
                                   narrow=narrow)
    else:
        noise = figures.message_figure(f"{label} learns no noise: only UNSIR does.", narrow=narrow)
    distance_from = "the original" + (" (all requests together)" if len(session.history) > 1 else "")
    references = yardsticks(checkpoint, request, retrain)
    return ForgetView(
        status_line(request, forgotten, test_photos(checkpoint), inside_short(checkpoint, request, retrain),
                    retrain["entry"] if retrain else None),
        summary_table(columns + references),
        collateral_damage(request.kept),
        figures.per_identity_accuracy(columns, forgotten, narrow=narrow),
        figures.prediction_histograms(columns, forgotten, narrow=narrow),
        figures.stranger_confidence(columns, narrow=narrow),
        figures.gradcam_grid(list(request.cams), narrow=narrow),
        noise,
        figures.layer_distances(entry["layer_distance_to_original"],
                                f"How far each block's weights moved from {distance_from} (L2)", narrow=narrow),
        *inside_view(checkpoint, request, retrain, narrow),
        report_with(request, retrain),
        session,
        gr.Column(visible=True),
    )


def inside_view(checkpoint: str, request: Request, retrain: dict | None, narrow: bool = False
                ) -> tuple[str | None, Figure | None]:
    """The features panel: can the forgotten people still be found inside the model? Its table and
    feature maps gain the retrained model's once it is run."""
    if request.features is None:
        return None, None
    label = METHOD_LABELS.get(request.method, request.method)
    table = evidence_table(request.report["original"], request.report["methods"][request.method], label,
                           request.features, retrain["entry"] if retrain else None, checkpoint)
    maps = dict(request.features.maps)
    titles = {"original": "Original", request.method: f"Unlearned · {label}"}
    if retrain:
        maps["retrain"], titles["retrain"] = retrain["map"], "Retrained (gold standard)"
    return table, figures.feature_maps(maps, titles, request.features.forgotten, narrow=narrow)


def inside_short(checkpoint: str, request: Request, retrain: dict | None) -> str:
    """The features panel's verdict in a few words, for the status at the top ("" where the features were not
    measured)."""
    if request.features is None:
        return ""
    return inside_verdict(request.report["original"], request.report["methods"][request.method],
                          METHOD_LABELS.get(request.method, request.method), retrain["entry"] if retrain else None,
                          checkpoint, request.features.control).short


def reset(checkpoint: str, session: Session | None, page: gr.Request | None = None) -> ResetView:
    """Back to the original model: the session's unlearned weights and history are dropped, and every
    section of the page is emptied (results, the photo check, the downloads). A Forget still running is
    stopped (the page's `cancels`)."""
    claimed(page, "forget")
    session = session_for(session, checkpoint)
    fresh = Session(checkpoint, retrained=session.retrained, export_dir=session.export_dir)
    return ResetView("Back to the original model: nothing is forgotten.", *[None] * 14, "", "", None, "", fresh)


def undo(checkpoint: str, session: Session | None, page: gr.Request | None = None) -> ForgetView:
    """Step back one request: the model before the last "Forget", and its results. Pressed while a Forget runs, it
    stops that one (the page's `cancels`) and keeps every request before it."""
    session = session_for(session, checkpoint)
    if claimed(page, "forget"):
        status = "Stopped the last request before it finished: nothing of it was kept."
        if not session.history:
            return ForgetView(f"{status} Nothing is forgotten.", *[None] * 11, session, gr.Column(visible=False))
        view = results_view(checkpoint, session, narrow=on_phone(page))
        return view._replace(status=f"{status}\n\n{view.status}")
    if not session.history:
        raise gr.Error("Nothing to undo: nothing is forgotten.", title="Nothing to undo")
    if len(session.history) == 1:
        fresh = Session(checkpoint, retrained=session.retrained, export_dir=session.export_dir)
        names = ", ".join(figures.readable(n) for n in session.history[0].names)
        return ForgetView(f"Undid forgetting {names}: back to the original model.", *[None] * 11, fresh,
                          gr.Column(visible=False))
    if session.previous_weights is None:
        raise gr.Error("Only the last request can be undone; Reset goes back to the original model.",
                       title="Nothing more to undo")
    undone = session.history[-1]
    session = replace(session, weights=session.previous_weights, previous_weights=None,
                      history=session.history[:-1], samples_shown=0)
    view = results_view(checkpoint, session, narrow=on_phone(page))
    return view._replace(status=f"Undid forgetting {', '.join(figures.readable(n) for n in undone.names)}.\n\n"
                                + view.status)
