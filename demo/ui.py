"""The page: a gr.Blocks layout wired to `demo.handlers` (the work happens there)."""
from __future__ import annotations

import functools
import re
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse

from unsir.methods import GROUPS, METHODS, setting_fields

from . import handlers
from .workspace import ARCH_NAMES, available_checkpoints

TITLE = "Forget a face with UNSIR"
INTRO = """# Forget a face
Someone asks a company to delete their face from its face-recognition model, and the unlearning may not read their
photos (*zero-glance*; this demo still shows them, and measures on them, so that you can check the result).
[UNSIR](https://arxiv.org/abs/2111.08947) learns noise that maximises the model's error on those people, briefly
*impairs* the model with it, then *repairs* it on a few photos of everyone else."""
# What benchmarks/RESULTS.md measured of each, in a line: the page must not promise more.
MODEL_HINT = ("ResNet18 (start here): UNSIR stops naming them in 12-20 seconds on a small CPU (longer for 20 people "
              "than for one), and moves them in its features on 19 of 25 benchmark forget sets (a model retrained "
              "without them: on 20 of 25), but not as close to a retrained model as a retrain from another seed "
              "comes: its confidence on them still tells them from strangers more than a retrained model's does, and "
              "at 2 and 20 people its features differ more from a retrained model's than another retrain's do (at 1, "
              "5 and 10 people two retrains differ as much, so there this measure cannot tell UNSIR from a retrain). "
              "ViT: it moves them in its features on 16 of 25 sets, about a fifth of the way to a retrained model, "
              "and costs everyone else under 5 points; its result varies more from one group of people to another, "
              "so read each person's verdict.")
# The methods in their groups (the core's order): what each one may read is part of its name here.
GROUP_TAGS = dict(zip(GROUPS, ["zero-glance", "reads the forgotten photos", "hides the output; not unlearning"]))
# The methods besides UNSIR that take the Advanced panel's retain subset size.
RETAIN_SUBSET_USERS = ", ".join(METHODS[name].label for name in setting_fields()["retain_per_id"]["methods"]
                                if name != "unsir")
METHOD_CHOICES = [(f"{m.label} · {GROUP_TAGS[m.group]}", m.name) for m in METHODS.values()]
CYCLE_CHOICES = ["impair-repair", "impair-impair-repair", "impair-repair-impair-repair"]
SETTING_WORDS = {"retain_per_id": "retain photos per kept person"}
# UNSIR's defaults that change with the number of people forgotten (unsir/methods/unsir.py, SIZE_DEFAULTS).
SIZE_NOTE = " ".join(
    f"On a {ARCH_NAMES.get(arch, arch)}, UNSIR's defaults change with the number of people forgotten: " + "; ".join(
        f"from {count}, " + ", ".join(f"{SETTING_WORDS.get(name, name.replace('_', ' '))} {value}"
                                      for name, value in changes.items()) for count, changes in tiers) + "."
    for arch, tiers in METHODS["unsir"].size_defaults.items()) + (
    " A value left as shown follows them." if METHODS["unsir"].size_defaults else "")
THEME = gr.themes.Soft(primary_hue="indigo", neutral_hue="slate")
STYLESHEET = Path(__file__).resolve().parents[1] / "assets" / "app.css"
REMOTE_FILE = re.compile(r"/file[=/]https?:", re.IGNORECASE)


class NoRemoteFiles:
    """Refuse `/gradio_api/file=<http(s) URL>`: Gradio would fetch any public URL for whoever asks, and
    this app serves only its own files (Gradio already refuses every file it did not create)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and REMOTE_FILE.search(scope["path"]):
            await PlainTextResponse("This app does not fetch remote files.", status_code=403)(scope, receive, send)
        else:
            await self.app(scope, receive, send)


SCRIPT = Path(__file__).resolve().parents[1] / "assets" / "app.js"
PAGE_STYLESHEET = Path(__file__).resolve().parents[1] / "assets" / "page.css"  # outside Gradio's scoping
LAUNCH_OPTIONS = {"theme": THEME, "css": STYLESHEET.read_text(),
                  "head": f"<style>{PAGE_STYLESHEET.read_text()}</style><script>{SCRIPT.read_text()}</script>",
                  "max_file_size": "10mb",
                  "app_kwargs": {"middleware": [Middleware(NoRemoteFiles)]}}
# The unlearning events share one worker: a second visitor queues instead of halving everyone's speed.
ON_DEVICE = {"concurrency_limit": 1, "concurrency_id": "device"}


def build_demo() -> gr.Blocks:
    problem = handlers.startup_problem()
    # No analytics: the app calls no server but its own (the data download aside).
    with gr.Blocks(title=TITLE, delete_cache=(3600, 3600), analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        if problem:
            gr.Markdown(problem)
        else:
            _page(handlers.default_checkpoint())

        # Gradio keeps a closed session's state for an hour, for a reload to resume it: drop it (the
        # visitor's unlearned weights, tens of MB, and their exports) as soon as the session ends.
        async def end_session(request: gr.Request) -> None:
            handlers.page_closed(request.session_hash)  # a retrain or a comparison would train on for nobody
            demo.state_holder.delete_state(request.session_hash)

        demo.unload(end_session)
    return demo.queue(default_concurrency_limit=4, max_size=32)


def refusal_only(check):
    """`check` for an event with no outputs: its gr.Error is the toast; what it returns is the handler's, not the
    page's (Gradio would warn of output values it has no place for)."""
    @functools.wraps(check)
    def refuse(*args):
        check(*args)
    return refuse


def _setting(name: str, value, label: str, **options) -> gr.Number:
    """A number field of the Advanced panel, with the help and allowed range its method declares (the core checks it)."""
    declared = setting_fields()[name]
    low, high = declared["range"]
    return gr.Number(value, label=label, info=f"{declared['help']}; {low:g} to {high:g}", **options)


def _page(checkpoint: str) -> None:
    start = handlers.switch_model(checkpoint)
    # An idle visitor's unlearned weights (tens of MB) are dropped after an hour.
    session = gr.State(handlers.Session(checkpoint), time_to_live=3600, delete_callback=handlers.discard_session)

    with gr.Row(elem_classes="stack-on-phone", equal_height=True):
        model = gr.Dropdown([(label, name) for name, label in available_checkpoints().items()], value=checkpoint,
                            label="Model", info=MODEL_HINT, scale=1, min_width=220)
        facts = gr.Markdown(start.facts, scale=3, min_width=220, label="About the model")

    gr.Markdown("## 1 · Choose who to forget")
    with gr.Row(elem_classes="stack-on-phone", equal_height=True, elem_id="choose"):
        selection = gr.Dropdown(handlers.identity_choices(checkpoint), value=[], multiselect=True,
                                allow_custom_value=True, label="People to forget",
                                info="Click faces below, or type part of a name and pick it.", scale=5, min_width=240,
                                elem_id="selection")
        count = gr.Number(3, precision=0, label="K", scale=0, min_width=80)
        draw = gr.Button("Random K", scale=0, min_width=110)
    selected = gr.Markdown(handlers.selection_summary([]), elem_id="selected", label="Who is selected")
    with gr.Row(elem_classes="stack-on-phone", elem_id="actions"):
        forget_button = gr.Button("Forget them", variant="primary", scale=2, min_width=160, elem_id="forget")
        more_button = gr.Button("Forget them too (keep earlier deletions)", scale=1, min_width=160, elem_id="more")
        undo_button = gr.Button("Undo last request", scale=1, min_width=120, elem_id="undo")
        reset_button = gr.Button("Reset to the original", scale=1, min_width=120, elem_id="reset")
    # The Forget events' progress bar has a place of its own, above the status: the status streams the
    # method's stages and the verdicts while the bar runs, and stays readable under it.
    forget_progress = gr.Markdown(elem_id="forget-progress", label="Progress")
    status = gr.Markdown(elem_id="status", label="Status")
    gallery = gr.Gallery(start.gallery, columns=10, height=260, allow_preview=False, object_fit="cover",
                         show_label=False, buttons=[], elem_id="faces", label="Faces (one training photo per person)")
    with gr.Accordion("Advanced settings (the core's defaults for this model)", open=False):
        method = gr.Radio(METHOD_CHOICES, value="unsir", label="Method",
                          info=f"The settings below are UNSIR's; {RETAIN_SUBSET_USERS} use the retain photos per "
                               "person (left as shown, each keeps its own default).")
        with gr.Row():
            retain_per_id = _setting("retain_per_id", start.retain_per_id, "Retain photos per kept person",
                                     precision=0)
            noise_steps = _setting("noise_steps", start.noise_steps, "Noise steps", precision=0)
            noise_lambda = _setting("noise_lambda", start.noise_lambda, "λ (penalty on noise size)")
            impair_lr = _setting("impair_lr", start.impair_lr, "Impair learning rate")
            repair_lr = _setting("repair_lr", start.repair_lr, "Repair learning rate")
        with gr.Row():
            cycles = gr.Dropdown(CYCLE_CHOICES, value=start.cycles, allow_custom_value=True, label="Cycles")
            seed = gr.Number(0, precision=0, label="Seed")
            notebook_faithful = gr.Checkbox(start.notebook_faithful,
                                            label="Notebook-faithful (reproduce the official notebook's bugs)")
        if SIZE_NOTE:
            gr.Markdown(SIZE_NOTE, elem_id="size-defaults")

    # Hidden until there are results: no empty chart placeholders on first load.
    with gr.Column(visible=False, elem_id="results") as results_area:
        gr.Markdown("## 2 · Before | after")
        summary = gr.Markdown(elem_id="summary", label="Summary table")
        collateral = gr.Markdown(elem_id="collateral", label="Collateral damage")
        # The figures carry their own titles: Gradio's labels would cover them (the labels name the API's outputs).
        per_identity = gr.Plot(label="Per-person accuracy chart", show_label=False, elem_classes="chart")
        histograms = gr.Plot(label="Who the forgotten are taken for", show_label=False, elem_classes="chart")
        strangers = gr.Plot(label="Confidence against never-seen people", show_label=False, elem_classes="chart")
        layers = gr.Plot(label="Weight change per block", show_label=False, elem_classes="chart")
        gradcam = gr.Plot(label="GradCAM photos", show_label=False, elem_id="gradcam", elem_classes="chart")
        noise = gr.Plot(label="UNSIR noise", show_label=False, elem_classes="chart")
        inside = gr.Markdown(elem_id="inside", label="Still inside the model? (features, membership, strangers)")
        feature_map = gr.Plot(label="Map of the features", show_label=False, elem_classes="chart")
        with gr.Row(elem_classes="stack-on-phone", equal_height=True):
            retrain_button = gr.Button("Retrain from scratch (gold standard)", scale=1, min_width=160,
                                       elem_id="retrain")
            cancel_button = gr.Button("Cancel the retrain", scale=0, min_width=180, variant="stop")
            retrain_note = gr.Markdown(start.retrain_note, scale=3, min_width=220, elem_id="retrain-note",
                                       label="About the retrain")
        with gr.Accordion("Full report (JSON, same keys as `unsir forget`)", open=False):
            report = gr.JSON(label="Report")

    with gr.Accordion("Compare methods on the same people (each with its default settings)", open=False,
                      elem_id="compare"):
        compare_choice = gr.CheckboxGroup(METHOD_CHOICES, value=["unsir", "logit-mask"], label="Methods",
                                          info="Two or more. Each forgets the people chosen above from the shipped "
                                               "model, one after the other; your own unlearned model is left as it is.",
                                          elem_id="compare-methods")
        compare_button = gr.Button("Compare", variant="secondary", elem_id="compare-run")
        compare_status = gr.Markdown(elem_id="compare-status", label="Comparison in plain words")
        compare_summary = gr.Markdown(elem_id="compare-summary", label="Comparison table")
        compare_per_identity = gr.Plot(label="Per-person accuracy, every method", show_label=False, elem_classes="chart")
        compare_histograms = gr.Plot(label="Who the forgotten are taken for, every method", show_label=False,
                                     elem_classes="chart")
        compare_strangers = gr.Plot(label="Confidence against never-seen people, every method", show_label=False,
                                    elem_classes="chart")
        compare_gradcam = gr.Plot(label="GradCAM, every method", show_label=False, elem_id="compare-gradcam",
                                  elem_classes="chart")
        with gr.Accordion("Comparison report (JSON, same keys as `unsir forget`)", open=False):
            compare_report = gr.JSON(label="Comparison report")

    gr.Markdown("## 3 · Is this person still recognised?")
    with gr.Row(elem_classes="stack-on-phone", elem_id="recognition"):
        photo = gr.Image(sources=["upload", "webcam"], type="filepath", label="A photo of someone", height=260,
                         min_width=200, elem_id="photo")
        face = gr.Image(label="Face found (MTCNN)", interactive=False, height=260, min_width=160)
        # No heading: a Label heads its bars with the top guess in large type, even one below the threshold that
        # the verdict under them then calls "not recognised" (the unlearned model "naming" a stranger at 7 %).
        original_top = gr.Label(label="Original model's top guesses", num_top_classes=handlers.TOP_PREDICTIONS,
                                min_width=160, show_heading=False)
        unlearned_top = gr.Label(label="Unlearned model's top guesses", num_top_classes=handlers.TOP_PREDICTIONS,
                                 min_width=160, show_heading=False)
    with gr.Row(elem_classes="stack-on-phone", equal_height=True):
        check = gr.Button("Who is this?", variant="primary", scale=1, min_width=140)
        sample = gr.Button("Try a held-out photo of a forgotten person", scale=1, min_width=160)
    sample_caption = gr.Markdown(elem_id="sample-caption", label="Whose held-out photo")
    note = gr.Markdown(elem_id="note", label="Verdicts")

    gr.Markdown("## 4 · Export")
    gr.Markdown("Anyone with the three files can check that the weights are the ones audited: `unsir verify "
                "--audit audit.json --weights model.safetensors`. With the dataset too, `--measure` measures the "
                "model again on the photos its card names and sets its numbers beside the audit's. Who was "
                "forgotten, and that no forgotten photo was read, no file can prove: `verify` marks them CLAIMED.",
                elem_id="export-how")
    with gr.Row(elem_classes="stack-on-phone"):
        export_button = gr.Button("Export unlearned weights + audit report", scale=1, min_width=240,
                                  elem_id="export")
        downloads = gr.File(label="Downloads (model.safetensors, card.json, audit.json)", file_count="multiple",
                            interactive=False, height=200, scale=3, min_width=220, elem_id="downloads")
    export_note = gr.Markdown(label="The audit's own sha256", elem_id="export-note")

    components = {"status": status, "summary": summary, "collateral": collateral, "per_identity": per_identity,
                  "histograms": histograms, "strangers": strangers, "gradcam": gradcam, "noise": noise,
                  "layers": layers, "inside": inside, "feature_map": feature_map, "report": report, "session": session, "face": face,
                  "original_top": original_top, "unlearned_top": unlearned_top, "note": note,
                  "sample_caption": sample_caption, "downloads": downloads, "export_note": export_note,
                  "results_area": results_area, "retrain_note": retrain_note}
    forget_outputs = [components[name] for name in handlers.ForgetView._fields]
    reset_outputs = [components[name] for name in handlers.ResetView._fields]
    stale = [face, original_top, unlearned_top, note, sample_caption, downloads, export_note]  # about an earlier model
    forget_inputs = [selection, model, method, retain_per_id, noise_steps, noise_lambda, impair_lr, repair_lr,
                     cycles, seed, notebook_faithful, session]

    def show(visible: bool):
        return lambda: gr.Column(visible=visible)

    def cleared():
        return [None, None, None, "", "", None, ""]

    # Unqueued and silent: a click on a face answers in milliseconds (a click made while the last
    # one is still pending is ignored, so the round trip must be short). Not an API endpoint: an API
    # call carries no click (it passes names to /forget).
    gallery.select(handlers.toggle_identity, [selection, model], selection, api_visibility="private",
                   queue=False, show_progress="hidden")
    # Typed text (Enter adds it as it is) becomes the one person it names, or is dropped with a warning.
    # Queued, so that its warning reaches the page as a toast; it answers at once (gr.skip) for known names.
    selection.change(handlers.known_only, [selection, model], selection, api_visibility="private",
                     show_progress="hidden")
    selection.change(handlers.selection_summary, selection, selected, api_visibility="private", queue=False,
                     show_progress="hidden")
    draw.click(handlers.pick_random, [count, model], selection, api_name="random_identities",
               api_description="Draw K of the model's people at random (a fresh draw each call).")
    # Each action is checked alone first (no outputs): a refusal is a toast and leaves no "Error" badge or
    # stale note over the results already on screen.
    forget_runs = []  # stopped by Undo, Reset and a model switch: a run ending after them would bring back its model
    for button, check_fn, run, name, description in (
            (forget_button, refusal_only(handlers.check_request), handlers.forget_faces, "forget",
             "Forget these people from the shipped model; returns the status with a verdict per person, the "
             "summary table, collateral damage, the charts and the report (the keys of `unsir forget`)."),
            (more_button, refusal_only(handlers.check_more), handlers.forget_more, "forget_more",
             "Forget these people too, on top of this session's unlearned model (earlier requests are kept).")):
        # Marked as asked for once checked (`forget_asked`): an Undo while it waits for the queue stops it.
        forget_run = button.click(check_fn, forget_inputs, None, api_visibility="private", queue=False,
                                  show_progress="hidden").success(
            handlers.forget_asked, None, None, api_visibility="private", queue=False, show_progress="hidden").success(
            run, forget_inputs, forget_outputs, api_name=name, api_description=description,
            show_progress_on=[forget_progress], **ON_DEVICE)
        forget_run.success(cleared, None, stale, api_visibility="private", queue=False)
        forget_runs.append(forget_run)
    # The estimate runs on the device too (it trains a few steps there), behind any run already holding it.
    retrain_estimate = retrain_button.click(
        refusal_only(handlers.check_retrain), [model, session], None, api_visibility="private", queue=False,
        show_progress="hidden"
    ).success(handlers.measure_retrain, [model, session], retrain_note, api_visibility="private",
              show_progress_on=[retrain_note], **ON_DEVICE)
    retrain_run = retrain_estimate.success(
        handlers.retrain_column, [model, session], [components[name] for name in handlers.RetrainView._fields],
        api_name="retrain", api_description="Add the retrain-from-scratch column (slow: as long as training).",
        show_progress_on=[retrain_note], **ON_DEVICE)
    retrain_runs = [retrain_estimate, retrain_run]
    cancel_button.click(handlers.cancel_retrain, None, retrain_note, api_name="cancel_retrain",
                        api_description="Stop this session's retrain at its next training step.", queue=False,
                        show_progress="hidden", cancels=retrain_runs)
    # Undo and Reset stop what runs for the page: a Forget ending after them would bring back its model, and a
    # retrain its session; cancelling an event leaves the retrain's training going, so its Cancel flag is set too.
    for button in (undo_button, reset_button):
        button.click(handlers.stop_retrain_of, None, None, api_visibility="private", queue=False,
                     show_progress="hidden")
    undo_button.click(handlers.undo, [model, session], forget_outputs, api_name="undo",
                      api_description="Step back one request: the model before the last Forget (a Forget still "
                                      "running is stopped instead).",
                      show_progress="hidden", cancels=[*forget_runs, *retrain_runs]
                      ).success(cleared, None, stale, api_visibility="private", queue=False)
    reset_button.click(handlers.reset, [model, session], reset_outputs, api_name="reset",
                       api_description="Back to the shipped model: every section emptied.", show_progress="hidden",
                       cancels=[*forget_runs, *retrain_runs]).then(show(False), None, results_area,
                                                                   api_visibility="private", queue=False)
    compare_outputs = [compare_status, compare_summary, compare_per_identity, compare_histograms, compare_strangers,
                       compare_gradcam, compare_report]
    compare_run = compare_button.click(
        refusal_only(handlers.check_compare), [selection, model, compare_choice], None, api_visibility="private",
        queue=False, show_progress="hidden").success(
        handlers.compare_methods, [selection, model, compare_choice, seed], compare_outputs, api_name="compare",
        show_progress_on=[compare_status],
        api_description="Forget these people with two or more methods, from the shipped model, one after the other; "
                        "returns a plain-words line per method, the table, the charts and the report (the keys of "
                        "`unsir forget` per method).", **ON_DEVICE)
    recognise_outputs = [face, original_top, unlearned_top, note]
    # The photo reaches the handler unopened (preprocess=False): Gradio would open it first, and answer a
    # file that is not an image, or a decompression bomb, with a bare "Error".
    check.click(refusal_only(handlers.check_photo), photo, None, api_visibility="private", preprocess=False,
                show_progress="hidden"
                ).success(handlers.recognise, [photo, model, session], recognise_outputs, api_name="recognise",
                          api_description="Find the largest face in a photo and ask both models who it is, each "
                                          "with a verdict against its calibrated 'not recognised' threshold.",
                          preprocess=False, **ON_DEVICE)
    sample.click(handlers.check_forgotten, [model, session], None, api_visibility="private", queue=False,
                 show_progress="hidden").success(
        handlers.forgotten_test_photo, [model, session], [photo, sample_caption, session],
        api_name="forgotten_test_photo",
        api_description="The next held-out photo of a forgotten person, and whose it is.", **ON_DEVICE).success(
        handlers.recognise, [photo, model, session], recognise_outputs, api_visibility="private", preprocess=False,
        **ON_DEVICE)
    export_button.click(handlers.check_export, [model, session], None, api_visibility="private", queue=False,
                        show_progress="hidden").success(
        handlers.export, [model, session], [downloads, export_note, session], api_name="export",
        api_description="The unlearned weights, their card and the audit report (sha256 of the exact files).",
        **ON_DEVICE)
    panel = [retain_per_id, noise_steps, noise_lambda, impair_lr, repair_lr, cycles, notebook_faithful]
    model.change(handlers.stop_page_runs, None, None, api_visibility="private", queue=False, show_progress="hidden")
    model.change(handlers.switch_model, model, [facts, gallery, selection, retrain_note, *panel],
                 api_name="switch_model",
                 api_description="Switch to another shipped model (the session starts again); returns its header, "
                                 "faces, people, retrain estimate and UNSIR's defaults for it.",
                 cancels=[*forget_runs, *retrain_runs, compare_run]).then(
        handlers.reset, [model, session], reset_outputs, api_visibility="private").then(
        show(False), None, results_area, api_visibility="private", queue=False).then(
        lambda: [None] * len(compare_outputs), None, compare_outputs, api_visibility="private", queue=False)
