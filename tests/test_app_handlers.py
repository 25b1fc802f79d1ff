"""Every event of the app, called as a plain function on the tiny Olivetti model (no server)."""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pytest
from matplotlib.figure import Figure
from PIL import Image

from demo import handlers
from demo.workspace import MODELS_DIR_VARIABLE, available_checkpoints, workspace
from unsir.checkpoints import load_checkpoint, weights_sha256
from unsir.methods import METHODS

import photos
from forget_trap import ForgetTrap

CHECKPOINT = "resnet18-olivetti"
QUICK = {"retain_per_id": 2, "noise_steps": 3}  # seconds, not minutes, on a busy CPU
FIGURES = ("per_identity", "histograms", "strangers", "gradcam", "noise", "layers")
ODD_NAME = "<b>Robert'); DROP TABLE faces;--</b> 名前 \x00"  # markup, quotes, SQL, CJK, a NUL


@pytest.fixture(scope="module", autouse=True)
def models_dir(olivetti_checkpoint):
    previous = os.environ.get(MODELS_DIR_VARIABLE)
    os.environ[MODELS_DIR_VARIABLE] = str(olivetti_checkpoint.parent)
    yield olivetti_checkpoint.parent
    if previous is None:
        del os.environ[MODELS_DIR_VARIABLE]
    else:
        os.environ[MODELS_DIR_VARIABLE] = previous


@pytest.fixture(scope="module")
def names():
    return workspace(CHECKPOINT).names


@pytest.fixture(autouse=True)
def base_model_untouched(olivetti_checkpoint):
    """After every test (every run of the app's events), the shared base model still holds the
    checkpoint's weights, bit for bit."""
    yield
    shipped, _ = load_checkpoint(olivetti_checkpoint)
    assert weights_sha256(workspace(CHECKPOINT).model) == weights_sha256(shipped)


@pytest.fixture(scope="module")
def stages() -> list[str]:
    """What the progress bar said during `first`."""
    return []


@pytest.fixture(scope="module")
def first(names, stages):
    """One forget request, shared by the tests that only read its results."""
    return handlers.forget_faces([names[3], names[7]], CHECKPOINT, session=handlers.Session(CHECKPOINT),
                                 progress=lambda fraction, desc=None: stages.append(desc or ""), **QUICK)


@pytest.fixture(scope="module")
def lfw_photo(lfw_root) -> Image.Image:
    """A real face photo from the data home (never committed)."""
    return Image.open(sorted((lfw_root / "Tony_Blair").glob("*.jpg"))[0])


def select(index: int) -> gr.SelectData:
    return gr.SelectData(None, {"index": index, "value": None, "selected": True})


def test_page_starts_with_the_models_header_faces_and_choices(names):
    assert handlers.startup_problem() is None
    assert handlers.default_checkpoint() == CHECKPOINT
    view = handlers.switch_model(CHECKPOINT)
    assert "original test accuracy" in view.facts and "CPU" in view.facts
    assert len(view.gallery) == len(names) == 40
    image, caption = view.gallery[5]
    assert image.shape == (32, 32, 3) and caption == "person 05"
    assert view.selection["choices"][5] == ("person 05", "person_05") and view.selection["value"] == []
    assert "Training this model took" in view.retrain_note


def test_startup_explains_how_to_get_a_checkpoint_when_there_is_none(tmp_path, monkeypatch):
    monkeypatch.setenv(MODELS_DIR_VARIABLE, str(tmp_path))
    problem = handlers.startup_problem()
    assert "No model checkpoint" in problem and "unsir train" in problem


def test_a_broken_checkpoint_is_skipped_or_explained_never_a_crash(olivetti_checkpoint, tmp_path, monkeypatch,
                                                                  caplog):
    for name in ("broken-card", "copy-olivetti"):
        shutil.copytree(olivetti_checkpoint, tmp_path / name)
    (tmp_path / "broken-card" / "card.json").write_text("{not json")
    monkeypatch.setenv(MODELS_DIR_VARIABLE, str(tmp_path))
    assert list(available_checkpoints()) == ["copy-olivetti"] and "broken-card" in caplog.text
    weights = tmp_path / "copy-olivetti" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    problem = handlers.startup_problem()
    assert "could not be loaded" in problem and "it may be truncated" in problem


def test_an_unknown_model_is_refused_with_the_choices():
    with pytest.raises(gr.Error, match="resnet18-olivetti"):
        handlers.model_facts("../../etc")


def test_clicking_a_face_toggles_that_person(names):
    selected = handlers.toggle_identity([], CHECKPOINT, select(4))
    assert selected == [names[4]]
    selected = handlers.toggle_identity(selected, CHECKPOINT, select(9))
    assert selected == [names[4], names[9]]
    assert handlers.toggle_identity(selected, CHECKPOINT, select(4)) == [names[9]]
    assert handlers.selection_summary(selected).startswith("**2 selected:**")
    assert "No one selected" in handlers.selection_summary([])


def test_random_k_draws_k_distinct_known_people(names):
    drawn = handlers.pick_random(5, CHECKPOINT, seed=1)
    assert len(set(drawn)) == 5 and set(drawn) <= set(names)
    assert handlers.pick_random(5, CHECKPOINT, seed=1) == drawn
    for impossible in (0, len(names), None):
        with pytest.raises(gr.Error, match="between 1 and 39"):
            handlers.pick_random(impossible, CHECKPOINT)



def test_forget_returns_the_cli_report_and_every_view(first, names):
    report = first.report
    forgotten = [names[3], names[7]]
    assert report["forget"] == forgotten
    entry = report["methods"]["unsir"]
    assert set(entry["forget_per_identity_test_acc"]) == set(forgotten)
    assert sum(entry["forget_prediction_histogram"].values()) == 6  # 3 test photos each
    assert entry["zero_glance"] and entry["forget_test_acc"] <= report["original"]["forget_test_acc"]
    assert report["requests"][0]["forget"] == forgotten
    assert f"{entry['retain_test_acc']:.1%}" in first.summary and "| Original |" in first.summary
    assert first.status.startswith("**Forgot person 03, person 07** with UNSIR")
    assert all(isinstance(getattr(first, name), Figure) for name in FIGURES)
    json.dumps(report)  # JSON-able, as the /forget contract says


def test_forget_keeps_the_base_model_untouched_and_stores_only_the_sessions_weights(first):
    ws = workspace(CHECKPOINT)
    assert weights_sha256(ws.model) == first.report["sha256"]["original"]
    session = first.session
    assert session.weights is not None and all(t.device.type == "cpu" for t in session.weights.values())
    assert weights_sha256(ws.model_with(session.weights, handlers.CPU)) == first.report["sha256"]["unsir"]


def test_forget_names_each_stage_on_the_progress_bar(first, stages):
    named = " ".join(stages)
    for stage in ("unsir: noise", "unsir: impair", "unsir: repair", "evaluate", "GradCAM"):
        assert stage in named


@pytest.mark.parametrize(("chosen", "message"), [
    ([], "Choose at least one identity"),
    (None, "Choose at least one identity"),
    (["persn_03"], "did you mean 'person_03'"),
    (["person_03", "person_03"], "more than once"),
    ([f"person_{i:02d}" for i in range(40)], "Forgetting all 40 identities .* keep at least one"),
    ([ODD_NAME], re.escape(f"Unknown identities: {ODD_NAME!r}")),
    (["x" * 100_000], "Unknown identities: 'x{60}…'"),
])
def test_forget_refuses_a_bad_selection_with_a_clear_message(chosen, message):
    with pytest.raises(gr.Error) as refused:
        handlers.forget_faces(chosen, CHECKPOINT, **QUICK)
    assert re.search(message, refused.value.message)  # str(gr.Error) is the repr, quotes escaped


@pytest.mark.parametrize(("setting", "message"), [
    ({"noise_steps": 0}, "noise_steps must be a number from 1 to 1000, got 0"),
    ({"impair_lr": -0.01}, "impair_lr must be a number from 1e-08 to 1, got -0.01"),
    ({"repair_lr": float("nan")}, "repair_lr must be a number from 1e-08 to 1, got nan"),
    ({"retain_per_id": 10**6}, "retain_per_id must be a number from 1 to 500, got 1000000"),
    ({"method": "finetune", "retain_per_id": 0}, "retain_per_id must be a number from 1 to 500, got 0"),
    ({"noise_lambda": None}, "noise_lambda must be a number from 0 to 100, got None"),
    ({"cycles": "impair-rest"}, "cycles must be"),
    ({"method": "magic"}, "Unknown method"),
])
def test_forget_refuses_bad_advanced_settings(names, setting, message):
    with pytest.raises(gr.Error, match=message):
        handlers.forget_faces([names[0]], CHECKPOINT, **{**QUICK, **setting})


def test_a_baseline_runs_says_what_it_read_and_learns_no_noise(names):
    view = handlers.forget_faces([names[2]], CHECKPOINT, method="neggrad")
    assert set(view.report["methods"]) == {"neggrad"}
    assert "Unlearned · NegGrad" in view.summary and "NOT zero-glance" in view.status
    assert isinstance(view.noise, Figure)
    assert set(handlers.METHOD_LABELS) == set(METHODS)


def test_forget_more_builds_on_the_unlearned_model(first, names):
    more = handlers.forget_more([names[11]], CHECKPOINT, session=first.session, **QUICK)
    report = more.report
    assert report["forget"] == [names[3], names[7], names[11]]
    earlier, latest = report["requests"]
    assert latest["forget"] == [names[11]] and latest["sha256_before"] == earlier["sha256_after"]
    assert report["sha256"]["original"] == report["original"]["sha256"] == earlier["sha256_before"]
    assert len(more.session.history) == 2 and "Forgotten so far: person 03, person 07, person 11" in more.status
    with pytest.raises(gr.Error, match="Already forgotten: person_07"):
        handlers.forget_more([names[7]], CHECKPOINT, session=more.session, **QUICK)


def test_reset_returns_to_the_original_and_clears_the_results(first):
    view = handlers.reset(CHECKPOINT, first.session)
    assert view.session.weights is None and view.session.history == ()
    assert view.summary is None and view.report is None and "Back to the original" in view.status


def test_retrain_adds_a_third_column_computed_once_per_forget_set(first, monkeypatch):
    with pytest.raises(gr.Error, match="Forget someone first"):
        handlers.retrain_column(CHECKPOINT, handlers.Session(CHECKPOINT))
    monkeypatch.setitem(workspace(CHECKPOINT).card["recipe"], "epochs", 1)  # the real path, one epoch
    view = handlers.retrain_column(CHECKPOINT, first.session)
    assert "| Retrained from scratch |" in view.summary
    assert set(view.report["methods"]) == {"unsir", "retrain"}
    calls = []
    monkeypatch.setattr(handlers.retrain, "retrain_from_scratch", lambda *args: calls.append(args))
    again = handlers.retrain_column(CHECKPOINT, view.session)
    assert calls == [] and again.report["methods"]["retrain"] == view.report["methods"]["retrain"]


def test_recognise_finds_the_face_and_asks_both_models(first, lfw_photo):
    with pytest.raises(gr.Error, match="Upload a photo"):
        handlers.recognise(None, CHECKPOINT, first.session)
    with pytest.raises(gr.Error, match="No face found"):
        handlers.recognise(Image.new("RGB", (200, 200), "grey"), CHECKPOINT, first.session)
    before = handlers.recognise(lfw_photo, CHECKPOINT, handlers.Session(CHECKPOINT))
    assert len(before.original) == handlers.TOP_PREDICTIONS and before.unlearned is None
    assert "Nothing is forgotten yet" in before.note
    after = handlers.recognise(lfw_photo, CHECKPOINT, first.session)
    assert len(after.unlearned) == handlers.TOP_PREDICTIONS and 0 < sum(after.original.values()) <= 1 + 1e-6
    assert "person 03, person 07" in after.note


@pytest.mark.parametrize("name", list(photos.UNUSABLE))
def test_an_unusable_upload_is_refused_with_what_is_wrong(first, tmp_path, lfw_root, name):
    upload = photos.write_unusable(tmp_path, lfw_root)[name]
    with pytest.raises(gr.Error, match=photos.UNUSABLE[name]):
        handlers.recognise(str(upload), CHECKPOINT, first.session)


def test_of_several_faces_the_largest_is_asked_about_and_the_visitor_told(first, lfw_root, tmp_path):
    photos.group_photo(lfw_root).save(tmp_path / "group.jpg")
    view = handlers.recognise(str(tmp_path / "group.jpg"), CHECKPOINT, first.session)
    assert view.note.startswith("2 faces found; asking about the largest.")
    assert len(view.unlearned) == handlers.TOP_PREDICTIONS


def test_a_held_out_photo_of_a_forgotten_person_is_offered_to_ask_about(first):
    with pytest.raises(gr.Error, match="Forget someone first"):
        handlers.forgotten_test_photo(CHECKPOINT, handlers.Session(CHECKPOINT))
    photo = handlers.forgotten_test_photo(CHECKPOINT, first.session)
    assert photo.size == (handlers.SAMPLE_SIZE, handlers.SAMPLE_SIZE)
    assert len(handlers.recognise(photo, CHECKPOINT, first.session).unlearned) == handlers.TOP_PREDICTIONS


def test_export_writes_weights_card_and_audit_in_the_sessions_folder(first):
    with pytest.raises(gr.Error, match="Nothing to export"):
        handlers.export(CHECKPOINT, handlers.Session(CHECKPOINT))
    files, session = handlers.export(CHECKPOINT, first.session)
    weights, card, audit = (Path(f) for f in files)
    assert weights.parent == card.parent == audit.parent == Path(session.export_dir)
    model, unlearned_card = load_checkpoint(weights.parent)
    record = json.loads(audit.read_text())
    assert weights_sha256(model) == record["sha256"]["after"] == first.report["sha256"]["unsir"]
    assert record["forget"] == unlearned_card["unlearned"]["forget"] == first.report["forget"]
    assert record["zero_glance"] and record["requests"] == first.report["requests"]
    handlers.discard_session(session)
    assert not weights.parent.exists()


def test_the_apps_forget_reads_no_photo_of_the_forgotten_and_its_audit_says_so(names, monkeypatch):
    """The Forget button's whole path (handler, workspace, core, GradCAM, export) on a training set
    that fails on any read of a forgotten person's photo until the unlearning method returns;
    the evaluation after it reads every photo, as measuring forgetting must."""
    ws = workspace(CHECKPOINT)
    ws.predictions()  # the base model's predictions: computed once at startup, before any request
    forgotten = [names[5], names[6]]
    trap = ForgetTrap(ws.split.train, [names.index(n) for n in forgotten])
    monkeypatch.setattr(ws.loaded, "split", replace(ws.split, train=trap))
    unsir = METHODS["unsir"]

    def unlearn_then_disarm(*args):
        try:
            return unsir(*args)
        finally:
            trap.armed = False

    monkeypatch.setitem(METHODS, "unsir", unlearn_then_disarm)

    view = handlers.forget_faces(forgotten, CHECKPOINT, session=handlers.Session(CHECKPOINT), **QUICK)
    assert not trap.armed and view.report["forget"] == forgotten  # the run went through, evaluation included
    files, session = handlers.export(CHECKPOINT, view.session)
    audit = json.loads(Path(files[2]).read_text())
    assert audit["zero_glance"] and audit["forget"] == forgotten
    assert audit["data_read"] == f"{2 * (len(names) - 2)} training photos of {len(names) - 2} kept identities " \
                                 "(retain subset); no photo of a forgotten identity"
    assert audit["statement"].startswith("Zero-glance: the unlearning read no photo of the forgotten identities.")
    handlers.discard_session(session)

    trap.armed = True  # the same trap catches a method that reads the forgotten photos
    with pytest.raises(AssertionError, match="a photo of a forgotten identity was read"):
        handlers.forget_faces(forgotten, CHECKPOINT, method="neggrad", session=handlers.Session(CHECKPOINT))
