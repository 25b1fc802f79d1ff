"""Time the app as a visitor meets it: cold start to a served page, then Forget clicks through
the public API (`/forget`, as the button calls it), with the shipped ResNet18. Writes
benchmarks/APP_LATENCY.md.

    python benchmarks/app_latency.py
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from gradio_client import Client

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))
from app_server import SHIPPED_MODELS, served_app  # noqa: E402  (the launcher the app tests use)

from unsir.bench import machine  # noqa: E402

CLICKS = [("1 identity, first click", 1), ("1 identity, second click", 1), ("20 identities", 20)]


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        with served_app(SHIPPED_MODELS, Path(scratch) / "app.log") as app:
            rows.append(("cold start to a served page", time.perf_counter() - started, None))
            client = Client(app.url, verbose=False, download_files=scratch)
            for label, count in CLICKS:
                names = client.predict(count, api_name="/random_identities")
                clicked = time.perf_counter()
                *_, report = client.predict(names, api_name="/forget")
                rows.append((label, time.perf_counter() - clicked, report["methods"]["unsir"]))
                print(f"{label}: {rows[-1][1]:.1f} s", flush=True)
    lines = ["# App latency", "", f"`python benchmarks/app_latency.py` on {machine()}, shipped ResNet18, "
             "UNSIR defaults. Click: from calling `/forget` to having every result (tables, figures, GradCAM).", "",
             "| what | seconds | of which unlearning (noise + impair + repair) | forget test acc | retain test acc |",
             "|---|---|---|---|---|"]
    for label, seconds, entry in rows:
        if entry is None:
            lines.append(f"| {label} | {seconds:.1f} | | | |")
        else:
            lines.append(f"| {label} | {seconds:.1f} | {entry['seconds']:.1f} | {entry['forget_test_acc']:.3f} | "
                         f"{entry['retain_test_acc']:.3f} |")
    (HERE / "APP_LATENCY.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
