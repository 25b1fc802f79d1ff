"""Stopping a page's long run (a retrain, a comparison) at its next training step.

Cancelling a Gradio event only drops the page's wait: the compute thread, or ZeroGPU's process, would go on training
for minutes. So a long run reports its progress through `CancellableProgress`, which raises `Cancelled` once the
page's cancel flag exists, and Cancel, Undo, Reset, a model switch and a closed tab set that flag.
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

RUNNING: dict[str, str] = {}  # session -> the long run it has going in this app ("retrain", "comparison")


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
def stoppable(progress, request: gr.Request | None, run: str):
    """While the context lasts, this page's `run` is one its flag stops; yields the progress callback to pass it."""
    session_hash = request.session_hash if request is not None else None
    callback = cancellable(progress, session_hash)
    if callback.flag is not None:
        callback.flag.unlink(missing_ok=True)  # a stop asked for before this run began does not stop it
        RUNNING[session_hash] = run
    try:
        yield callback
    finally:
        if callback.flag is not None:
            RUNNING.pop(session_hash, None)
            callback.flag.unlink(missing_ok=True)


def stop(session_hash: str | None, run: str | None = None) -> bool:
    """Ask this session's long run (only a `run` one, if given) to stop at its next training step; False when
    none runs."""
    running = RUNNING.get(session_hash) if session_hash is not None else None
    if running is None or run not in (None, running):
        return False
    CANCEL_DIR.mkdir(parents=True, exist_ok=True)
    cancel_flag(session_hash).touch()
    return True


def stop_page_runs(request: gr.Request | None = None) -> None:
    """`stop` for the page that asks (Undo, Reset, a model switch)."""
    stop(request.session_hash if request is not None else None)
