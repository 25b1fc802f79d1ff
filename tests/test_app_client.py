"""Script the running app with gradio_client, as an API user would."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from app_server import served_app

QUICK = {"retain_per_id": 2, "noise_steps": 3}
CHOSEN = ["person_03", "person_07"]


@pytest.fixture(scope="module")
def client(olivetti_checkpoint, tmp_path_factory):
    with served_app(olivetti_checkpoint.parent, tmp_path_factory.mktemp("client") / "app.log") as url:
        yield Client(url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def test_forget_endpoint_takes_names_first_and_defaults_for_the_rest(client):
    parameters = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/forget"]["parameters"]
    assert parameters[0]["parameter_name"] == "names"
    assert all(p["parameter_has_default"] for p in parameters)


def test_forget_with_no_one_says_what_to_do(client):
    with pytest.raises(AppError, match="Choose at least one identity"):
        client.predict([], api_name="/forget", **QUICK)


def test_random_k_draws_k_people(client):
    assert len(set(client.predict(4, api_name="/random_identities"))) == 4


def test_forget_then_forget_more_then_export_in_one_session(client):
    status, summary, *_, report = client.predict(CHOSEN, api_name="/forget", **QUICK)
    assert report["forget"] == CHOSEN and "Forgot person 03, person 07" in status
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
    by_name = {Path(file).name: Path(file) for file in client.predict(api_name="/export")}
    assert set(by_name) == {"model.safetensors", "card.json", "audit.json"}
    audit = json.loads(by_name["audit.json"].read_text())
    assert audit["forget"] == report["forget"] and audit["sha256"]["after"] == report["sha256"]["unsir"]
