"""Serve app.py for the client and browser tests: in a subprocess (as `python app.py` would run), or
in the test's own process to look inside; and a visitor scripted with gradio_client."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from gradio_client import Client

from demo.workspace import MODELS_DIR_VARIABLE, workspace
from unsir.checkpoints import weights_sha256

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_MODELS = ROOT / "models"
NETWORK_AUDIT = Path(__file__).with_name("network_audit.py")
STARTUP_SECONDS = 120  # generous: the CI machine may be busy


class ServedApp(NamedTuple):
    url: str
    pid: int

    def rss_mb(self) -> float:
        """The server's resident memory (Linux)."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served_app(models_dir: Path, log: Path, connections: Path | None = None, checkout: Path = ROOT):
    """Run `python app.py` of `checkout` (this one by default) on a free local port with checkpoints from
    `models_dir`; yield its URL and pid.

    With `connections`, the app runs as on a fresh machine (GRADIO_ANALYTICS_ENABLED unset) and every
    connection it attempts beyond this machine is written there, one per line.
    """
    port = free_port()
    env = {**os.environ, "UNSIR_MODELS_DIR": str(models_dir), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    command = [sys.executable, "app.py"]
    if connections:
        del env["GRADIO_ANALYTICS_ENABLED"]
        env["UNSIR_NETWORK_LOG"] = str(connections)
        command = [sys.executable, str(NETWORK_AUDIT), "app.py"]
    url = f"http://127.0.0.1:{port}/"
    with open(log, "w") as output:
        process = subprocess.Popen(command, cwd=checkout, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"app.py exited with {process.returncode}:\n{log.read_text()[-3000:]}")
                try:
                    urllib.request.urlopen(url, timeout=2)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"app.py did not serve {url} in {STARTUP_SECONDS} s:\n"
                                           f"{log.read_text()[-3000:]}")
                    time.sleep(0.5)
            yield ServedApp(url, process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


class Runs:
    """Wraps the unlearning behind every Forget click: how many ran at once, and the hash of the shared
    base model's weights after each."""

    def __init__(self, unlearn):
        self.unlearn, self.lock = unlearn, threading.Lock()
        self.running, self.most_at_once, self.base_hashes = 0, 0, []

    def __call__(self, checkpoint: str, *args):
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            return self.unlearn(checkpoint, *args)
        finally:
            self.base_hashes.append(weights_sha256(workspace(checkpoint).model))
            with self.lock:
                self.running -= 1


@contextmanager
def served_here(models_dir: Path):
    """The page of app.py (same build, same launch options) served from this process, so that its
    insides can be checked; yields the Blocks and the Runs of its unlearning."""
    from demo.handlers import forget
    from demo.ui import LAUNCH_OPTIONS, build_demo

    previous = os.environ.get(MODELS_DIR_VARIABLE)
    os.environ[MODELS_DIR_VARIABLE] = str(models_dir)
    runs = forget.unlearn = Runs(forget.unlearn)  # where the Forget handlers look it up
    try:
        demo = build_demo()
        demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                    **LAUNCH_OPTIONS)
        try:
            yield demo, runs
        finally:
            demo.close()
    finally:
        forget.unlearn = runs.unlearn
        if previous is None:
            del os.environ[MODELS_DIR_VARIABLE]
        else:
            os.environ[MODELS_DIR_VARIABLE] = previous


def visit(url: str, names: list[str], downloads: Path, **settings) -> tuple[Client, dict, dict]:
    """One visitor: forget `names` (with `settings`), export; returns the client (still connected),
    the report and the exported audit."""
    client = Client(url, verbose=False, download_files=str(downloads))
    *_, report = client.predict(names, api_name="/forget", **settings)
    exported, _ = client.predict(api_name="/export")
    files = {Path(f).name: Path(f) for f in exported}
    return client, report, json.loads(files["audit.json"].read_text())
