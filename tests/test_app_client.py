"""Script the running app with gradio_client, as an API user would (or an attacker might)."""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import photos
from app_server import ROOT, served_app

QUICK = {"retain_per_id": 2, "noise_steps": 3}
CHOSEN = ["person_03", "person_07"]
UPLOAD_CAP = 10 * 1024**2  # LAUNCH_OPTIONS["max_file_size"]


@pytest.fixture(scope="module")
def served(olivetti_checkpoint, tmp_path_factory):
    """app.py as on a fresh machine (analytics not switched off by the environment), every connection
    it attempts beyond this machine recorded."""
    folder = tmp_path_factory.mktemp("client")
    with served_app(olivetti_checkpoint.parent, folder / "app.log", connections=folder / "connections.jsonl") as app:
        yield app, folder / "connections.jsonl"


@pytest.fixture(scope="module")
def client(served, tmp_path_factory):
    return Client(served[0].url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def test_forget_endpoint_takes_names_first_and_defaults_for_the_rest(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    parameters = endpoints["/forget"]["parameters"]
    assert parameters[0]["parameter_name"] == "names"
    assert all(p["parameter_has_default"] for p in parameters)
    assert "/toggle_identity" not in endpoints  # a click on a face: an API call has no click to carry


def test_every_endpoint_and_output_has_a_real_name_and_description(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/forget", "/forget_more", "/compare", "/undo", "/reset", "/retrain", "/cancel_retrain", "/recognise",
            "/forgotten_test_photo", "/export", "/switch_model", "/random_identities"} <= set(endpoints)
    for name, endpoint in endpoints.items():
        assert endpoint["description"] and "partial" not in endpoint["description"], name
        for output in endpoint["returns"]:
            assert output["label"] and not re.fullmatch(r"value_\d+", output["label"]), (name, output)
    assert "on top of this session's unlearned model" in endpoints["/forget_more"]["description"]


def test_forget_with_no_one_says_what_to_do(client):
    with pytest.raises(AppError, match="Choose at least one identity"):
        client.predict([], api_name="/forget", **QUICK)


def test_random_k_draws_k_people(client):
    assert len(set(client.predict(4, api_name="/random_identities"))) == 4


def test_forget_then_forget_more_then_export_in_one_session(client):
    status, summary, *_, report = client.predict(CHOSEN, api_name="/forget", **QUICK)
    assert report["forget"] == CHOSEN and "UNSIR ran on person 03, person 07" in status
    for side in (report["original"], report["methods"]["unsir"]):
        per_identity = side["forget_per_identity_test_acc"]
        assert list(per_identity) == CHOSEN
        # Every Olivetti person has 3 test photos, so the forget accuracy is the mean over the two.
        assert side["forget_test_acc"] == pytest.approx(sum(per_identity.values()) / 2)
        assert sum(side["forget_prediction_histogram"].values()) == 6
        assert 0 <= side["retain_test_acc"] <= 1
    assert f"{report['methods']['unsir']['retain_test_acc']:.1%}" in summary

    *_, report = client.predict(["person_11"], api_name="/forget_more", **QUICK)
    assert report["forget"] == [*CHOSEN, "person_11"] and len(report["requests"]) == 2
    exported, note = client.predict(api_name="/export")
    by_name = {Path(file).name: Path(file) for file in exported}
    assert set(by_name) == {"model.safetensors", "card.json", "audit.json"}
    # the audit's own hash, to keep apart from the files (verify prints the same for the audit it is given)
    assert f"audit.json's sha256: `{hashlib.sha256(by_name['audit.json'].read_bytes()).hexdigest()}`" in note
    audit = json.loads(by_name["audit.json"].read_text())
    assert audit["forget"] == report["forget"] and audit["weights_sha256"]["after"] == report["sha256"]["unsir"]


def refusals(folder: Path, lfw_root: Path) -> list[tuple[str, tuple, dict, str]]:
    """(endpoint, arguments, keyword arguments, what the refusal says) for every kind of bad input."""
    unusable = photos.write_unusable(folder, lfw_root)
    Image.new("RGB", (200, 200), "grey").save(folder / "wall.jpg")
    everyone = [f"person_{i:02d}" for i in range(40)]
    return [
        ("/forget", ([],), QUICK, "Choose at least one identity"),
        ("/forget", (everyone,), QUICK, "Forgetting all 40 identities leaves nothing to recognise"),
        ("/forget", (["persn_03"],), QUICK, "did you mean 'person_03'"),
        ("/forget", (["person_01", "person_01"],), QUICK, "Identities named more than once: person_01"),
        ("/forget", (["<script>alert(1)</script> 名前 \x00"],), QUICK, "Unknown identities: .<script>alert"),
        ("/forget", (["person_01"],), {"impair_lr": -0.01}, "impair_lr must be a number from 1e-08 to 1, got -0.01"),
        ("/forget", (["person_01"],), {"noise_steps": 0}, "noise_steps must be a number from 1 to 1000, got 0"),
        ("/forget", (["person_01"],), {"retain_per_id": 10**6}, "retain_per_id must be a number from 1 to 500"),
        ("/forget", (["person_01"],), {"method": "magic"}, r"'magic' .* is not in the list of choices: \['unsir'"),
        ("/forget_more", (CHOSEN[:1],), QUICK, "Already forgotten: person_03"),
        ("/random_identities", (40,), {}, "between 1 and 39"),
        ("/switch_model", ("../../etc",), {}, "Value: ../../etc is not in the list of choices"),
        *[("/recognise", (handle_file(unusable[name]),), {}, message) for name, message in photos.UNUSABLE.items()],
        ("/recognise", (handle_file(folder / "wall.jpg"),), {}, "No face found in this photo"),
        ("/recognise", (None,), {}, "Upload a photo or take one with the webcam first"),
    ]


def test_every_refusal_says_what_is_wrong_and_the_session_keeps_its_results(served, tmp_path, lfw_root):
    client = Client(served[0].url, verbose=False, download_files=str(tmp_path / "downloads"))
    *_, report = client.predict(CHOSEN, api_name="/forget", **QUICK)
    for endpoint, args, kwargs, message in refusals(tmp_path, lfw_root):
        with pytest.raises(AppError, match=message):
            client.predict(*args, api_name=endpoint, **kwargs)
    # The session still holds its unlearned model: both models judge a photo, and "Forget them too" builds on it.
    *_, note = client.predict(handle_file(photos.lfw_photo_path(lfw_root)), api_name="/recognise")
    assert "Asked to forget: person 03, person 07." in note
    *_, more = client.predict(["person_11"], api_name="/forget_more", **QUICK)
    assert more["forget"] == [*CHOSEN, "person_11"] and more["requests"][0] == report["requests"][0]
    client.close()


def test_an_upload_over_10_mb_is_refused_by_the_client_and_by_the_server(served, client, tmp_path):
    big = tmp_path / "50mb.jpg"
    big.write_bytes(os.urandom(50 * 1024**2))
    with pytest.raises(ValueError, match=f"exceeds the maximum file size of {UPLOAD_CAP} bytes"):
        client.predict(handle_file(big), api_name="/recognise")
    with big.open("rb") as upload:  # a caller that skips the client's check
        answer = httpx.post(served[0].url + "gradio_api/upload", files={"files": upload}, timeout=60)
    assert answer.status_code == 413 and "maximum allowed size" in answer.text


@pytest.mark.parametrize("path", ["/etc/passwd", str(ROOT / "app.py"), str(ROOT / "models" / "README.md"),
                                  "%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",  # ../ that no client tidies away
                                  "https://example.com/", "http://169.254.169.254/latest/meta-data/"])
def test_the_file_route_serves_no_file_of_the_machine_and_fetches_nothing(served, path):
    for route in ("gradio_api/file=", "gradio_api/file/"):
        assert httpx.get(served[0].url + route + path, timeout=30).status_code == 403


def test_the_app_made_no_connection_beyond_this_machine(served):
    """Startup, and every request of this module before this test: not one lookup or connection
    outside the machine (analytics off, data and MTCNN weights on disk)."""
    assert served[1].read_text() == ""
