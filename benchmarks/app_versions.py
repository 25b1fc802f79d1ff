"""Time the same Forget click on two checkouts of the app, alternated (A B B A ...), so that the machine's
drift over the run falls on both: a change's effect on the click, measured apart from the day's speed.
Writes benchmarks/APP_VERSIONS.md.

    git worktree add /tmp/before <commit>
    python benchmarks/app_versions.py /tmp/before --rounds 3
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

from gradio_client import Client

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))
from app_latency import timed_click  # noqa: E402
from app_server import SHIPPED_MODELS, free_port  # noqa: E402

from unsir.bench import QUIET_LOAD, machine, settled_load  # noqa: E402

PERSON = ["Colin_Powell"]


def commit_of(checkout: Path) -> str:
    described = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=checkout, capture_output=True, text=True)
    return described.stdout.strip() or "unknown"


@contextmanager
def served(checkout: Path, log: Path):
    """`python app.py` of a checkout on a free port, with the shipped checkpoints; yields (client, pid)."""
    port = free_port()
    env = {**os.environ, "UNSIR_MODELS_DIR": str(SHIPPED_MODELS), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=checkout, env=env, stdout=output,
                                   stderr=subprocess.STDOUT)
        try:
            while process.poll() is None:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                    break
                except OSError:
                    time.sleep(0.5)
            if process.poll() is not None:
                raise RuntimeError(f"{checkout}/app.py exited:\n{log.read_text()[-3000:]}")
            yield Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=str(log.parent)), process.pid
        finally:
            process.terminate()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="the other checkout (e.g. a git worktree of an earlier commit)")
    parser.add_argument("--rounds", type=int, default=3, help="A B B A rounds (each: two clicks per checkout)")
    args = parser.parse_args()
    checkouts = {"before": args.before.resolve(), "after": HERE.parent.resolve()}
    loads = [settled_load()]
    rows = []
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as apps:
        served_apps = {name: apps.enter_context(served(root, Path(scratch) / f"{name}.log"))
                       for name, root in checkouts.items()}
        for client, pid in served_apps.values():
            timed_click(client, PERSON, pid)  # the first click of a fresh app pays for its first request
        loads.append(settled_load())
        for name in ["before", "after", "after", "before"] * args.rounds:
            client, pid = served_apps[name]
            click = timed_click(client, PERSON, pid)
            stages = click["entry"]["stages"]
            rows.append({"app": name, "first": click["first"], "every": click["every"],
                         "unsir": stages["noise"] + stages["impair"] + stages["repair"], "busiest": click["busiest"]})
            print(name, {k: round(v, 1) for k, v in rows[-1].items() if k not in ("app", "busiest")}, flush=True)
    write_markdown(checkouts, rows, loads)


def write_markdown(checkouts: dict[str, Path], rows: list[dict], loads: list[float]) -> None:
    quiet = max(loads) <= QUIET_LOAD
    lines = ["# The same click on two versions of the app", "",
             f"`python benchmarks/app_versions.py` on {machine()}, shipped ResNet18, UNSIR defaults, forgetting "
             f"{PERSON[0]} (warm apps). The two apps ran side by side and took turns (before, after, after, "
             "before, ...), so that the machine's drift falls on both; each click timed as in APP_LATENCY.md "
             "(first answer, every result, UNSIR alone), with the share of the click's time that the app's two "
             "busiest threads ran.", "",
             f"Machine: {'quiet' if quiet else 'NOT quiet'} before the run (1-minute load average "
             f"{', '.join(f'{load:.1f}' for load in loads)}); the clicks followed each other without a pause.", "",
             "| app | commit | clicks | first answer, s (median, range) | every result, s | UNSIR alone, s | "
             "busiest two threads, % (median) |", "|---|---|---|---|---|---|---|"]
    for name, root in checkouts.items():
        clicks = [row for row in rows if row["app"] == name]

        def spread(key: str) -> str:
            values = [row[key] for row in clicks]
            return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"

        busiest = " / ".join(f"{100 * statistics.median(row['busiest'][i] for row in clicks):.0f}" for i in (0, 1))
        lines.append(f"| {name} | {commit_of(root)} | {len(clicks)} | {spread('first')} | {spread('every')} | "
                     f"{spread('unsir')} | {busiest} |")
    (HERE / "APP_VERSIONS.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
