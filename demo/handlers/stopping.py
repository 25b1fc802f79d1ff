"""What runs for a page (a Forget, a retrain, a comparison), and stopping it.

Cancelling a Gradio event only drops the page's wait. A Forget stops at its next step (its generator is closed),
but Undo must know it was asked for: it then stops that Forget rather than also stepping back the request before,
whether the Forget was running or still waiting for its turn in the queue (`waiting`, marked on the click).
A retrain or a comparison would go on training for minutes on the compute thread, or in ZeroGPU's process, so it
reports its progress through `CancellableProgress`, which raises `Cancelled` once the page's cancel flag exists;
Cancel, Undo, Reset, a model switch and a closed tab set that flag.
"""
from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

# A file, not a variable: under ZeroGPU the run trains in a process forked before the visitor pressed Cancel, on the
# same machine, where only the file system still reaches it.
CANCEL_DIR = Path(tempfile.gettempdir()) / "unsir-retrain-cancelled"


@dataclass(frozen=True, eq=False)
class Run:
    """One run of a page. Compared by identity: a run that ends late leaves a later run's entry alone."""
    kind: str  # "forget", "retrain", "comparison"


RUNNING: dict[str, Run] = {}  # session -> the run it has going in this app


class Cancelled(Exception):
    """Raised from the progress callback when the page stops its run: the training loop stops there."""


def cancel_flag(session_hash: str) -> Path:
    """The file whose presence stops this session's run (named by a hash: a session id is the browser's text)."""
    return CANCEL_DIR / hashlib.sha256(session_hash.encode()).hexdigest()


@dataclass(frozen=True)
class CancellableProgress:
    """A run's progress callback, raising Cancelled at the next training step after the page stops it.
    A picklable object, not a closure: ZeroGPU pickles a GPU function's arguments into its process."""
    progress: Callable
    flag: Path | None

    def __call__(self, fraction: float, desc: str | None = None) -> None:
        if self.flag is not None and self.flag.exists():
            raise Cancelled
        self.progress(fraction, desc=desc)


def cancellable(progress, session_hash: str | None) -> CancellableProgress:
    """The callback for a run that this session's flag reaches, in this process or another."""
    return CancellableProgress(progress, cancel_flag(session_hash) if session_hash else None)


@contextlib.contextmanager
def running(request: gr.Request | None, kind: str):
    """While the context lasts, this page's run of `kind` is the one RUNNING names."""
    session_hash, run = (request.session_hash if request is not None else None), Run(kind)
    if session_hash:
        RUNNING[session_hash] = run
    try:
        yield
    finally:
        if session_hash and RUNNING.get(session_hash) is run:
            del RUNNING[session_hash]


def waiting(request: gr.Request | None, kind: str) -> None:
    """Mark this page's run of `kind` as asked for, before the queue starts it: an Undo or a Reset pressed while
    it waits then finds it (`claimed`), as when it runs. The run's own `running` entry takes the mark's place."""
    if request is not None and request.session_hash:
        RUNNING[request.session_hash] = Run(kind)


def page_closed(session_hash: str) -> None:
    """A closed page: its run is stopped, and its entry goes, a run still waiting for its turn included."""
    stop(session_hash)
    RUNNING.pop(session_hash, None)


def claimed(request: gr.Request | None, kind: str) -> bool:
    """Whether this page had a run of `kind` going or waiting, now stopped by the event that asks (Undo, Reset: a
    Forget, which the page's `cancels` stop or drop from the queue); its entry goes with it."""
    session_hash = request.session_hash if request is not None else None
    run = RUNNING.get(session_hash) if session_hash else None
    if run is None or run.kind != kind:
        return False
    del RUNNING[session_hash]
    return True


@contextlib.contextmanager
def stoppable(progress, request: gr.Request | None, kind: str):
    """While the context lasts, this page's run of `kind` is one its flag stops; yields the progress callback to
    pass it."""
    callback = cancellable(progress, request.session_hash if request is not None else None)
    if callback.flag is not None:
        callback.flag.unlink(missing_ok=True)  # a stop asked for before this run began does not stop it
    try:
        with running(request, kind):
            yield callback
    finally:
        if callback.flag is not None:
            callback.flag.unlink(missing_ok=True)


def stop(session_hash: str | None, kind: str | None = None) -> bool:
    """Ask this session's run (only one of `kind`, if given) to stop at its next training step; False when none
    runs."""
    run = RUNNING.get(session_hash) if session_hash is not None else None
    if run is None or kind not in (None, run.kind):
        return False
    CANCEL_DIR.mkdir(parents=True, exist_ok=True)
    cancel_flag(session_hash).touch()
    return True


def stop_page_runs(request: gr.Request | None = None) -> None:
    """`stop` for the page that asks (Undo, Reset, a model switch)."""
    stop(request.session_hash if request is not None else None)
