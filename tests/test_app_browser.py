"""Debian's chromium, driven by Playwright: pick two faces, forget them, see the results, screenshot;
a refusal keeps the results on screen; ask about a held-out photo."""
from __future__ import annotations

import os
import shutil
from urllib.parse import urlparse

import pytest

from app_server import ROOT, SHIPPED_MODELS, served_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SHIPPED = "resnet18-lfw100"
README_SCREENSHOT = ROOT / "docs" / "screenshot.png"
UPDATE_VARIABLE = "UNSIR_UPDATE_SCREENSHOT"  # set to 1 to refresh the README's screenshot
RESULTS_SECONDS = 600  # the shipped model on a busy 2-core CPU


def from_elsewhere(url: str) -> bool:
    parts = urlparse(url)
    return parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in ("127.0.0.1", "localhost")


@pytest.mark.browser
def test_pick_two_faces_forget_them_and_see_the_results(olivetti_checkpoint, tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    # The README's screenshot shows the shipped model when there is one.
    shipped = (SHIPPED_MODELS / SHIPPED / "model.safetensors").is_file()
    models = SHIPPED_MODELS if shipped else olivetti_checkpoint.parent
    screenshot = tmp_path / "screenshot.png"
    with served_app(models, tmp_path / "app.log") as app, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        requested = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(app.url)
        faces = page.locator("#faces button.thumbnail-item")
        for count, index in enumerate((3, 7), start=1):
            faces.nth(index).click()
            page.get_by_text(f"{count} selected:").wait_for()
        page.locator("#forget").click()
        page.wait_for_function("document.querySelector('#status').innerText.includes('Forgot')",
                               timeout=RESULTS_SECONDS * 1000)
        assert "Forgotten people · test accuracy" in page.locator("#summary").inner_text()
        page.wait_for_timeout(1000)  # let the figures paint
        # Third-party photos never enter the repository, not even in a screenshot: blur them.
        page.add_style_tag(content="#faces img { filter: blur(8px); } #gradcam img { filter: blur(18px); }")
        page.screenshot(path=str(screenshot), full_page=True)
        # A refusal leaves the results on screen; then a held-out photo is judged by both models.
        page.get_by_role("button", name="Who is this?").click()
        page.get_by_text("Upload a photo or take one with the webcam first.").wait_for()
        assert "Forgotten people · test accuracy" in page.locator("#summary").inner_text()
        page.get_by_role("button", name="Try a held-out photo of a forgotten person").click()
        page.wait_for_function("document.querySelector('#note').innerText.includes('Forgotten:')",
                               timeout=RESULTS_SECONDS * 1000)
        browser.close()
    # The page fetched nothing from another server: fonts, scripts and styles all come from the app.
    assert [url for url in requested if from_elsewhere(url)] == []
    assert screenshot.stat().st_size > 50_000
    if os.environ.get(UPDATE_VARIABLE) and shipped:
        shutil.copyfile(screenshot, README_SCREENSHOT)
