"""How the page's events are wired (demo/ui.py), read from the built app: which events queue on the device, and
which ones stop what is running for the page. The handlers themselves are tested in test_app_handlers.py."""
from __future__ import annotations

import pytest

from demo.ui import build_demo
from demo.workspace import MODELS_DIR_VARIABLE


@pytest.fixture(scope="module")
def events(olivetti_checkpoint):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MODELS_DIR_VARIABLE, str(olivetti_checkpoint.parent))
        demo = build_demo()
    return demo.get_config_file()["dependencies"], demo.fns


def named(events, api_name: str) -> int:
    dependencies, _ = events
    [index] = [i for i, dependency in enumerate(dependencies) if dependency["api_name"] == api_name]
    return index


def cancelled_by(events, api_name: str) -> set[int]:
    """The events a button's click cancels (Gradio wires them as a second listener on the same button)."""
    dependencies, _ = events
    targets = dependencies[named(events, api_name)]["targets"]
    return {cancelled for dependency in dependencies if dependency["targets"] == targets
            for cancelled in dependency["cancels"]}


@pytest.mark.parametrize("button", ["undo", "reset", "switch_model"])
def test_undo_reset_and_a_model_switch_stop_a_forget_and_a_retrain(events, button):
    """A run ending after them would bring back its model (a Forget) or its session (a retrain, minutes later)."""
    stopped = cancelled_by(events, button)
    for running in ("forget", "forget_more", "retrain"):
        assert named(events, running) in stopped, running
    dependencies, fns = events
    [estimate] = [i for i in range(len(dependencies)) if fns[i].name == "measure_retrain"]
    assert estimate in stopped  # the retrain's estimate, which trains a few steps first
    targets = dependencies[named(events, button)]["targets"]
    # cancelling the event leaves the training going: the retrain's Cancel flag is set as well (a model switch
    # also stops a comparison, which it cancels too)
    stopper = "stop_page_runs" if button == "switch_model" else "stop_retrain_of"
    assert any(fns[i].name == stopper for i, dependency in enumerate(dependencies)
               if dependency["targets"] == targets)
    if button == "switch_model":
        assert named(events, "compare") in stopped


@pytest.mark.parametrize("api_name", ["forget", "forget_more"])
def test_a_forget_is_marked_as_asked_for_before_it_waits_in_the_queue(events, api_name):
    """At once on the click, once its check passes: an Undo while it waits for its turn then stops it."""
    dependencies, fns = events
    mark = dependencies[named(events, api_name)]["trigger_after"]
    assert fns[mark].name == "forget_asked" and dependencies[mark]["queue"] is False
    check = dependencies[mark]["trigger_after"]
    assert dependencies[check]["queue"] is False and dependencies[mark]["trigger_only_on_success"]


@pytest.mark.parametrize("api_name", ["forget", "forget_more", "retrain", "compare", "recognise",
                                      "forgotten_test_photo", "export"])
def test_every_event_that_computes_queues_on_the_device(events, api_name):
    """One worker for them all: an export or a photo check during a Forget waits its turn, visibly, instead of
    reading the session the Forget is about to replace."""
    _, fns = events
    assert fns[named(events, api_name)].concurrency_id == "device"
