"""The audit verifies with standard tools: the exported files' sha256 as `sha256sum` prints it, the shipped
files', the weights' own hash under its own name, every request with its times and numbers, a plain
summary, and `unsir verify`."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from demo import handlers
from demo.workspace import MODELS_DIR_VARIABLE
from unsir.checkpoints import load_checkpoint, weights_sha256
from unsir.cli import main

CHECKPOINT = "resnet18-olivetti"
QUICK = {"retain_per_id": 2, "noise_steps": 3}


@pytest.fixture(scope="module")
def exported(olivetti_checkpoint, tmp_path_factory):
    """Two requests (forget, then forget more), exported: (the files by name, the audit, the last view)."""
    previous = os.environ.get(MODELS_DIR_VARIABLE)
    os.environ[MODELS_DIR_VARIABLE] = str(olivetti_checkpoint.parent)
    try:
        *_, first = handlers.forget_faces(["person_02", "person_05"], CHECKPOINT,
                                          session=handlers.Session(CHECKPOINT), **QUICK)
        *_, more = handlers.forget_more(["person_09"], CHECKPOINT, session=first.session, **QUICK)
        files, _, session = handlers.export(CHECKPOINT, more.session)
        by_name = {Path(f).name: Path(f) for f in files}
        yield by_name, json.loads(by_name["audit.json"].read_text()), more
        handlers.discard_session(session)
    finally:
        if previous is None:
            del os.environ[MODELS_DIR_VARIABLE]
        else:
            os.environ[MODELS_DIR_VARIABLE] = previous


def sha256sum(path: Path) -> str:
    """What `sha256sum FILE` prints (the tool itself where the machine has it)."""
    if shutil.which("sha256sum"):
        return subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_exported_and_shipped_files_hash_as_sha256sum_says(exported, olivetti_checkpoint):
    files, audit, _ = exported
    assert set(files) == {"model.safetensors", "card.json", "audit.json"}
    for name in ("model.safetensors", "card.json"):
        assert audit["files_sha256"]["exported"][name] == sha256sum(files[name])
        assert audit["files_sha256"]["shipped"][name] == sha256sum(olivetti_checkpoint / name)
    assert "sha256sum" in audit["files_sha256"]["how"]


def test_the_weights_hash_is_a_second_clearly_named_field(exported, olivetti_checkpoint):
    files, audit, view = exported
    weights = audit["weights_sha256"]
    assert weights["after"] == weights_sha256(load_checkpoint(files["model.safetensors"].parent)[0])
    assert weights["before"] == weights_sha256(load_checkpoint(olivetti_checkpoint)[0])
    assert weights["after"] != audit["files_sha256"]["exported"]["model.safetensors"]  # not a file's hash
    assert "not a file's hash" in weights["how"] and "sha256" not in audit  # no ambiguous "sha256" left


def test_each_request_has_its_times_seconds_metrics_and_per_person_accuracy(exported):
    _, audit, view = exported
    first, second = audit["requests"]
    assert first["forget"] == ["person_02", "person_05"] and second["forget"] == ["person_09"]
    for request in (first, second):
        started, finished = (datetime.fromisoformat(request[k]) for k in ("started_at", "finished_at"))
        assert started <= finished and request["seconds"] > 0 and request["unlearning_seconds"] > 0
        assert 0 <= request["metrics"]["forget_test_acc"] <= 1 and 0 <= request["metrics"]["retain_test_acc"] <= 1
        assert set(request["retain_per_identity_test_acc"]).isdisjoint(request["forget_per_identity_test_acc"])
    assert set(first["forget_per_identity_test_acc"]) == {"person_02", "person_05"}
    assert set(second["forget_per_identity_test_acc"]) == {"person_02", "person_05", "person_09"}
    assert first["sha256_after"] == second["sha256_before"]
    assert audit["started_at"] == first["started_at"] and audit["finished_at"] == second["finished_at"]
    assert audit["seconds"] == pytest.approx(first["seconds"] + second["seconds"], abs=1e-3)
    assert audit["exported_at"] >= audit["finished_at"]
    assert audit["forget_per_identity_test_acc"]["after"] == view.report["methods"]["unsir"]["forget_per_identity_test_acc"]


def test_the_audit_opens_with_a_plain_summary(exported):
    _, audit, view = exported
    summary = audit["summary"]
    assert summary.startswith("2 request(s) between ") and "person 02, person 05; then person 09" in summary
    entry = view.report["methods"]["unsir"]
    assert f"{entry['forget_test_acc']:.0%} after" in summary and "sha256sum model.safetensors" in summary
    # each person's verdict counts their photos: 0 % of 3 is not 0 % of 106
    counts, after = audit["forget_per_identity_n_test"], entry["forget_per_identity_test_acc"]
    assert set(counts) == set(audit["forget"]) and set(counts.values()) == {3}  # Olivetti: 3 held-out photos each
    for name in audit["forget"]:
        assert f"{name.replace('_', ' ')}: {round(after[name] * 3)} of 3" in summary
    # beside the method, the control the page showed: it names nobody either, and its features still find them
    control = audit["metrics"][next(name for name in audit["metrics"] if name.startswith("control"))]
    assert (f"Beside it, the control names them on {control['forget_test_acc']:.0%}, and its features find "
            f"{control['feature_knn_forget_acc']:.0%} of their held-out photos") in summary
    assert ("WARNING: still named: " in summary) == any(
        a > 0.01 for a in entry["forget_per_identity_test_acc"].values())
    # naming nobody is not the whole claim: the summary says what the features still hold, before and after
    original = view.report["original"]
    assert (f"a nearest-neighbour search on its features found {original['feature_knn_forget_acc']:.0%} of the "
            f"forgotten people's held-out photos before and {entry['feature_knn_forget_acc']:.0%} after") in summary
    unmoved = entry["feature_knn_forget_acc"] > original["feature_knn_forget_acc"] - 0.05
    assert (f"{entry['feature_knn_forget_acc']:.0%} after: not moved, as when they are only hidden at the output"
            in summary) == unmoved
    assert audit["metrics"]["after"]["feature_knn_forget_acc"] == entry["feature_knn_forget_acc"]
    assert audit["feature_knn_forget_per_identity_acc"] == {
        "before": original["feature_knn_forget_per_identity_acc"], "after": entry["feature_knn_forget_per_identity_acc"]}


def test_unsir_verify_checks_a_weights_file_against_the_audit(exported, olivetti_checkpoint, tmp_path, capsys):
    files, _, _ = exported
    audit = str(files["audit.json"])
    assert main(["verify", "--audit", audit, "--weights", str(files["model.safetensors"])]) == 0
    out = capsys.readouterr().out
    assert "OK: the file is the model this audit exported" in out
    # What the two files cannot show is labelled a claim; the audit's own hash is there to compare with a published one.
    assert ("CLAIMED by the audit, not shown by these files: person_02, person_05, person_09 forgotten with unsir; "
            "zero-glance yes") in out and "CONTROL" not in out
    assert f"sha256 {sha256sum(files['audit.json'])}  {audit} (the audit itself" in out
    assert main(["verify", "--audit", audit, "--weights", str(olivetti_checkpoint / "model.safetensors")]) == 1
    out = capsys.readouterr().out
    # The shipped file holds float16: its weights, read as a model holds them, are the ones the audit started from.
    assert "NOT UNLEARNED: the file is the shipped model" in out
    assert "OK: its weights hash equals weights_sha256.before" in out
    tampered = tmp_path / "model.safetensors"
    data = bytearray(files["model.safetensors"].read_bytes())
    data[-1] ^= 1
    tampered.write_bytes(bytes(data))
    assert main(["verify", "--audit", audit, "--weights", str(tampered)]) == 1
    assert "MISMATCH: model.safetensors is neither the exported nor the shipped" in capsys.readouterr().out
    # The exported file, but an audit whose weights hash says other weights were measured: caught too.
    record = json.loads(files["audit.json"].read_text())
    forged = tmp_path / "forged-audit.json"
    forged.write_text(json.dumps({**record, "weights_sha256": {**record["weights_sha256"], "after": "0" * 64}}))
    assert main(["verify", "--audit", str(forged), "--weights", str(files["model.safetensors"])]) == 1
    assert "MISMATCH: its weights hash" in capsys.readouterr().out
    # What cannot be checked at all exits 2, saying why: an audit missing what verify reads among them.
    incomplete = tmp_path / "incomplete-audit.json"
    incomplete.write_text(json.dumps({**record, "weights_sha256": {"how": record["weights_sha256"]["how"]}}))
    for args, message in ((["--audit", str(files["card.json"]), "--weights", str(tampered)],
                           "is not an unsir-audit/2 audit report"),
                          (["--audit", str(incomplete), "--weights", str(tampered)],
                           "lacks weights_sha256.before (the shipped weights' hash)"),
                          (["--audit", str(tmp_path / "nowhere.json"), "--weights", str(tampered)],
                           "is not a readable JSON audit"),
                          (["--audit", audit, "--weights", str(tmp_path / "nowhere.safetensors")], "No file at")):
        assert main(["verify", *args]) == 2
        assert message in capsys.readouterr().err


def test_unsir_verify_measure_sets_each_number_measured_again_beside_the_audits(exported, tmp_path, capsys):
    """Anyone with the exported folder and the data can check the claims, not only the file: the model is measured
    again on the photos its card names, and each number (per person too) is set beside the audit's."""
    files, audit, _ = exported
    command = ["verify", "--weights", str(files["model.safetensors"]), "--measure", "--audit"]
    assert main([*command, str(files["audit.json"])]) == 0
    out = capsys.readouterr().out
    assert "OK: every number measured again agrees with the audit's." in out and "DIFFERS" not in out
    assert "OK: forgotten people: held-out photos named as them (" in out
    assert f"OK: held-out photos of the forgotten counted: audit {audit['photos']['n_forget_test']}, measured " in out
    assert f"OK: {audit['forget'][0]}: held-out photos counted: audit 3, measured 3" in out
    for name in audit["forget"]:
        assert f"OK: {name}: held-out photos named as them (" in out
        assert f"OK: {name}: found by nearest neighbours in the features (" in out
    # An audit that claims more than the model does is caught: here, one person named on every photo fewer.
    after = audit["forget_per_identity_test_acc"]["after"]
    claimed = {**after, audit["forget"][0]: after[audit["forget"][0]] - 1.0}
    forged = tmp_path / "audit.json"
    forged.write_text(json.dumps({**audit, "forget_per_identity_test_acc": {"before": {}, "after": claimed}}))
    assert main([*command, str(forged)]) == 1
    out = capsys.readouterr().out
    assert f"DIFFERS: {audit['forget'][0]}: held-out photos named as them" in out
    assert "DIFFERS: some numbers measured again do not agree with the audit's" in out
    # So is an audit measured on other photos than the card names (here, one held-out photo more).
    counted = {**audit["photos"], "n_retain_test": audit["photos"]["n_retain_test"] + 1}
    forged.write_text(json.dumps({**audit, "photos": counted}))
    assert main([*command, str(forged)]) == 1
    assert "DIFFERS: held-out photos of the kept counted: audit " in capsys.readouterr().out
    # and one person's photos counted otherwise: other data for that person's numbers
    person = audit["forget"][0]
    forged.write_text(json.dumps({**audit, "forget_per_identity_n_test": {**audit["forget_per_identity_n_test"],
                                                                           person: 4}}))
    assert main([*command, str(forged)]) == 1
    assert f"DIFFERS: {person}: held-out photos counted: audit 4, measured 3" in capsys.readouterr().out
    # Another card beside the weights would measure other photos: refused, in one line.
    folder = tmp_path / "copied"
    folder.mkdir()
    shutil.copy(files["model.safetensors"], folder)
    (folder / "card.json").write_text(files["card.json"].read_text() + "\n")
    assert main(["verify", "--weights", str(folder / "model.safetensors"), "--measure", "--audit",
                 str(files["audit.json"])]) == 2
    assert "is not the card this audit exported" in capsys.readouterr().err


def test_unsir_verify_measure_takes_downloads_a_browser_renamed(exported, tmp_path, capsys):
    """A second download comes as "model (1).safetensors": the weights are known by their hash, not their name, and
    --card names the card when it is not the card.json beside them."""
    files, audit, _ = exported
    weights = tmp_path / "model (1).safetensors"
    card = tmp_path / "card (1).json"
    shutil.copy(files["model.safetensors"], weights)
    command = ["verify", "--weights", str(weights), "--measure", "--audit", str(files["audit.json"])]
    assert main(command) == 2
    assert f"no file at {tmp_path / 'card.json'} (name it with --card)" in capsys.readouterr().err
    shutil.copy(files["card.json"], card)
    assert main([*command, "--card", str(card)]) == 0
    out = capsys.readouterr().out
    assert "OK: the file is the model this audit exported" in out
    assert "OK: every number measured again agrees with the audit's." in out


def test_a_model_from_a_control_is_exported_and_verified_as_a_control_not_as_unlearned(
        exported, olivetti_checkpoint, tmp_path, capsys):
    """A control only hides the forgotten people at the output: its audit, summary and `verify` say so first."""
    _, _, unlearned = exported
    previous = os.environ.get(MODELS_DIR_VARIABLE)
    os.environ[MODELS_DIR_VARIABLE] = str(olivetti_checkpoint.parent)
    try:
        *_, hidden = handlers.forget_more(["person_11"], CHECKPOINT, method="logit-mask", session=unlearned.session)
        files, _, session = handlers.export(CHECKPOINT, hidden.session)
    finally:
        if previous is None:
            del os.environ[MODELS_DIR_VARIABLE]
        else:
            os.environ[MODELS_DIR_VARIABLE] = previous
    by_name = {Path(f).name: f for f in files}
    audit = json.loads(Path(by_name["audit.json"]).read_text())
    assert audit["control"] is True and [r["control"] for r in audit["requests"]] == [False, False, True]
    assert audit["summary"].startswith("CONTROL, NOT UNLEARNING: logit-mask only hides the forgotten people at the "
                                       "output; the model still holds them.")
    last = audit["requests"][-1]
    assert (last["method"], last["seed"]) == ("logit-mask", 0) and "hyperparameters" in last  # reproducible
    assert main(["verify", "--audit", by_name["audit.json"], "--weights", by_name["model.safetensors"]]) == 0
    assert "CONTROL, NOT UNLEARNING: a request of this model used a control" in capsys.readouterr().out
    handlers.discard_session(session)


def test_a_stranger_distance_measured_again_agrees_within_one_forgotten_photo():
    """The KS compares the confidences on every photo of the forgotten people (training and held-out) with the
    strangers': on another CPU one borderline photo moves it by one over their number, more than a fixed 0.02."""
    from unsir.audit import compare_measured

    audit = {"metrics": {"after": {"stranger_ks": 0.30}}}
    counts = {"n_forget_train": 8, "n_forget_test": 2}  # 10 photos: one moves the KS by 0.1
    agree, lines = compare_measured(audit, {**counts, "stranger_ks": 0.37}, {})
    assert agree and "OK: distance from strangers (KS) (10 photos): audit 0.300, measured 0.370" in lines
    agree, lines = compare_measured(audit, {**counts, "stranger_ks": 0.45}, {})
    assert not agree and "DIFFERS: distance from strangers (KS) (10 photos): audit 0.300, measured 0.450" in lines


def test_the_summary_calls_a_person_without_held_out_photos_unchecked_not_still_named():
    from unsir.reports import plain_summary

    entry = {"forget_per_identity_test_acc": {"A": 0.0, "B": float("nan")}, "forget_test_acc": 0.0,
             "retain_test_acc": 0.8, "zero_glance": True, "data_read": "kept photos"}
    report = {"forget": ["A", "B"], "original": {"forget_test_acc": 0.9, "retain_test_acc": 0.8},
              "methods": {"unsir": entry}}
    summary = plain_summary(report, "unsir", [], "m")
    assert "still named:" not in summary and "Each forgotten person is named" not in summary
    assert "WARNING: cannot be checked: B has no held-out photo, so nothing here shows whether they are still named." \
        in summary
    beside = plain_summary(report, "unsir", [], "m", {
        "control (logit-mask: hides the output)": {"forget_test_acc": 0.0, "feature_knn_forget_acc": 0.9},
        "retrain (the gold standard)": {"forget_test_acc": 0.0, "feature_knn_forget_acc": float("nan")}})
    assert ("Beside it, the control names them on 0%, and its features find 90% of their held-out photos; the "
            "retrain names them on 0%. ") in beside
    named = plain_summary({**report, "methods": {"unsir": {**entry, "forget_per_identity_test_acc": {"A": 0.5, "B": 0.0}}}},
                          "unsir", [], "m")
    assert "WARNING: still named: A, on more than 1% of their held-out photos." in named


def test_the_summary_says_when_the_features_did_not_move():
    """The app's rule (a kNN less than 5 points below the original's has not moved them), in the audit's words."""
    from unsir.reports import inside_the_model

    unmoved = inside_the_model({"feature_knn_forget_acc": 0.93}, {"feature_knn_forget_acc": 0.93})
    assert unmoved.startswith("Inside the model, a nearest-neighbour search on its features found 93% of the "
                              "forgotten people's held-out photos before and 93% after: not moved, as when they are "
                              "only hidden at the output")
    moved = inside_the_model({"feature_knn_forget_acc": 0.93}, {"feature_knn_forget_acc": 0.60})
    assert "before and 60% after; hiding them at the output alone leaves that number unchanged" in moved
    assert inside_the_model({"feature_knn_forget_acc": 0.93}, {}) == ""  # not measured: nothing said
