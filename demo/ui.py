"""The page: a gr.Blocks layout wired to `demo.handlers` (the work happens there)."""
from __future__ import annotations

import re
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse

from unsir.methods import SETTING_RANGES

from . import handlers
from .workspace import available_checkpoints

TITLE = "Forget a face with UNSIR"
INTRO = """# Forget a face
Someone asks a company to delete their face from its face-recognition model, and nobody may look at
their photos again (*zero-glance*). [UNSIR](https://arxiv.org/abs/2111.08947) makes the model forget
them in seconds: it learns noise that maximises the model's error on those people, briefly *impairs*
the model with it, then *repairs* it on a few photos of everyone else."""
METHOD_CHOICES = [("UNSIR (zero-glance)", "unsir"), ("FineTune on kept people (zero-glance)", "finetune"),
                  ("NegGrad (reads the forgotten photos)", "neggrad"), ("Retrain from scratch (slow)", "retrain")]
CYCLE_CHOICES = ["impair-repair", "impair-impair-repair", "impair-repair-impair-repair"]
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


LAUNCH_OPTIONS = {"theme": THEME, "css": STYLESHEET.read_text(), "max_file_size": "10mb",
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
            demo.state_holder.delete_state(request.session_hash)

        demo.unload(end_session)
    return demo.queue(default_concurrency_limit=4, max_size=32)


def _setting(name: str, value, label: str, **options) -> gr.Number:
    """A number field of the Advanced panel, showing its allowed range (the core checks it)."""
    low, high = SETTING_RANGES[name]
    return gr.Number(value, label=label, info=f"{low:g} to {high:g}", **options)


def _page(checkpoint: str) -> None:
    start = handlers.switch_model(checkpoint)
    defaults = handlers.UNSIR_DEFAULTS
    # An idle visitor's unlearned weights (tens of MB) are dropped after an hour.
    session = gr.State(handlers.Session(checkpoint), time_to_live=3600, delete_callback=handlers.discard_session)

    with gr.Row(equal_height=True):
        model = gr.Dropdown([(label, name) for name, label in available_checkpoints().items()], value=checkpoint,
                            label="Model", scale=1)
        facts = gr.Markdown(start.facts, scale=3)

    gr.Markdown("## 1 · Choose who to forget")
    gallery = gr.Gallery(start.gallery, columns=10, height=300, allow_preview=False, object_fit="cover",
                         show_label=False, buttons=[], elem_id="faces")
    with gr.Row(equal_height=True):
        selection = gr.Dropdown(handlers.identity_choices(checkpoint), value=[], multiselect=True,
                                allow_custom_value=True, label="People to forget",
                                info="Click faces above, or type to search.", scale=5, elem_id="selection")
        count = gr.Number(3, precision=0, label="K", scale=0, min_width=90)
        draw = gr.Button("Random K", scale=0, min_width=140)
    selected = gr.Markdown(handlers.selection_summary([]))
    with gr.Accordion("Advanced settings (defaults from the core)", open=False):
        method = gr.Radio(METHOD_CHOICES, value="unsir", label="Method",
                          info="The settings below are UNSIR's; FineTune uses the retain photos per person.")
        with gr.Row():
            retain_per_id = _setting("retain_per_id", defaults.retain_per_id, "Retain photos per kept person",
                                     precision=0)
            noise_steps = _setting("noise_steps", defaults.noise_steps, "Noise steps", precision=0)
            noise_lambda = _setting("noise_lambda", defaults.noise_lambda, "λ (penalty on noise size)")
            impair_lr = _setting("impair_lr", defaults.impair_lr, "Impair learning rate")
            repair_lr = _setting("repair_lr", defaults.repair_lr, "Repair learning rate")
        with gr.Row():
            cycles = gr.Dropdown(CYCLE_CHOICES, value=defaults.cycles, allow_custom_value=True, label="Cycles")
            seed = gr.Number(0, precision=0, label="Seed")
            notebook_faithful = gr.Checkbox(defaults.notebook_faithful,
                                            label="Notebook-faithful (reproduce the official notebook's bugs)")
    with gr.Row():
        forget_button = gr.Button("Forget them", variant="primary", scale=2, elem_id="forget")
        more_button = gr.Button("Forget them too (keep earlier deletions)", scale=1)
        reset_button = gr.Button("Reset to the original", scale=1)
    status = gr.Markdown(elem_id="status")

    gr.Markdown("## 2 · Before | after")
    with gr.Row():
        summary = gr.Markdown(elem_id="summary")
        # The figures carry their own titles: Gradio's labels would cover them.
        per_identity = gr.Plot(show_label=False)
    histograms = gr.Plot(show_label=False)
    with gr.Row():
        strangers = gr.Plot(show_label=False)
        layers = gr.Plot(show_label=False)
    gradcam = gr.Plot(show_label=False, elem_id="gradcam")
    noise = gr.Plot(show_label=False)
    with gr.Row(equal_height=True):
        retrain_button = gr.Button("Retrain from scratch (gold standard)", scale=1)
        retrain_note = gr.Markdown(start.retrain_note, scale=3)
    with gr.Accordion("Full report (JSON, same keys as `unsir forget`)", open=False):
        report = gr.JSON(label="Report")

    gr.Markdown("## 3 · Is this person still recognised?")
    with gr.Row():
        photo = gr.Image(sources=["upload", "webcam"], type="filepath", label="A photo of someone", height=260)
        face = gr.Image(label="Face found (MTCNN)", interactive=False, height=260)
        original_top = gr.Label(label="Original model says", num_top_classes=handlers.TOP_PREDICTIONS)
        unlearned_top = gr.Label(label="Unlearned model says", num_top_classes=handlers.TOP_PREDICTIONS)
    with gr.Row(equal_height=True):
        check = gr.Button("Who is this?", variant="primary", scale=1)
        sample = gr.Button("Try a held-out photo of a forgotten person", scale=1)
        note = gr.Markdown(scale=2, elem_id="note")

    gr.Markdown("## 4 · Export")
    with gr.Row(equal_height=True):
        export_button = gr.Button("Export unlearned weights + audit report", scale=1)
        downloads = gr.File(label="Downloads", file_count="multiple", interactive=False, height=140, scale=3)

    results = {"status": status, "summary": summary, "per_identity": per_identity, "histograms": histograms,
               "strangers": strangers, "gradcam": gradcam, "noise": noise, "layers": layers, "report": report,
               "session": session}
    forget_outputs = [results[name] for name in handlers.ForgetView._fields]
    forget_inputs = [selection, model, method, retain_per_id, noise_steps, noise_lambda, impair_lr, repair_lr,
                     cycles, seed, notebook_faithful, session]

    # Unqueued and silent: a click on a face answers in milliseconds (a click made while the last
    # one is still pending is ignored, so the round trip must be short). Not an API endpoint: an API
    # call carries no click (it passes names to /forget).
    gallery.select(handlers.toggle_identity, [selection, model], selection, api_visibility="private",
                   queue=False, show_progress="hidden")
    selection.change(handlers.selection_summary, selection, selected, api_visibility="private", queue=False,
                     show_progress="hidden")
    draw.click(handlers.pick_random, [count, model], selection, api_name="random_identities")
    forget_button.click(handlers.forget_faces, forget_inputs, forget_outputs, api_name="forget", **ON_DEVICE)
    more_button.click(handlers.forget_more, forget_inputs, forget_outputs, api_name="forget_more", **ON_DEVICE)
    reset_button.click(handlers.reset, [model, session], forget_outputs, api_name="reset")
    retrain_button.click(handlers.retrain_column, [model, session],
                         [results[name] for name in handlers.RetrainView._fields], api_name="retrain", **ON_DEVICE)
    recognise_outputs = [face, original_top, unlearned_top, note]
    # The photo reaches the handler unopened (preprocess=False): Gradio would open it first, and answer a
    # file that is not an image, or a decompression bomb, with a bare "Error".
    check.click(handlers.recognise, [photo, model, session], recognise_outputs, api_name="recognise",
                preprocess=False)
    sample.click(handlers.forgotten_test_photo, [model, session], photo, api_name="forgotten_test_photo").success(
        handlers.recognise, [photo, model, session], recognise_outputs, api_visibility="private", preprocess=False)
    export_button.click(handlers.export, [model, session], [downloads, session], api_name="export")
    model.change(handlers.switch_model, model, [facts, gallery, selection, retrain_note], api_name="switch_model").then(
        handlers.reset, [model, session], forget_outputs, api_visibility="private")
