import json
import shutil
from pathlib import Path

import pytest
import torch

from unsir.checkpoints import save_checkpoint
from unsir.cli import StageBars, main
from unsir.nets import build_model


def test_train_on_olivetti_reaches_useful_accuracy(olivetti_checkpoint):
    card = json.loads((olivetti_checkpoint / "card.json").read_text())
    assert card["test_acc"] > 0.6  # chance is 0.025
    assert card["arch"] == "resnet18" and len(card["identities"]) == 40
    assert card["train_command"].startswith("unsir train")
    assert set(card["per_identity_test_acc"]) == set(card["identities"])


def test_the_same_train_command_gives_the_same_weights(tmp_path):
    """The seed draws the initial weights as well as the data order: a card's command rebuilds its model."""
    def weights(out):
        command = ["train", "--dataset", "olivetti", "--image-size", "32", "--epochs", "2", "--out", str(out)]
        assert main(command) == 0
        return (out / "model.safetensors").read_bytes()

    assert weights(tmp_path / "a") == weights(tmp_path / "b")


def test_eval_reproduces_the_card(olivetti_checkpoint, tmp_path):
    report_path = tmp_path / "eval.json"
    assert main(["eval", "--checkpoint", str(olivetti_checkpoint), "--report", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    card = json.loads((olivetti_checkpoint / "card.json").read_text())
    assert {"checkpoint", "dataset", "test_acc", "balanced_test_acc", "per_identity_test_acc", "n_test"} <= set(report)
    assert report["test_acc"] == pytest.approx(card["test_acc"])
    assert report["n_test"] == 120


@pytest.mark.parametrize("args, message", [
    (["--forget", "Nobody"], "Unknown identities"),
    (["--forget", ""], "at least one"),
    (["--forget", "person_01,person_01"], "more than once"),
    (["--forget-random", "40"], "between 1 and 39"),
    (["--forget", "person_01", "--methods", "magic"], "--methods"),
    (["--forget", "person_01", "--impair-lr", "-1"], "impair_lr must be a number from 1e-08 to 1, got -1.0"),
    (["--forget", "person_01", "--noise-steps", "0"], "noise_steps must be a number from 1 to 1000, got 0"),
    (["--forget", "person_01", "--retain-per-id", "1000000"], "retain_per_id must be a number from 1 to 500"),
    (["--forget", "person_01", "--cycles", "impair-rest"], "cycles must be"),
    (["--forget", "<b>Robert'); DROP TABLE faces;--</b>,名前"], "Unknown identities: \"<b>Robert'); DROP"),
    ([], "exactly one"),
])
def test_bad_forget_requests_exit_2_with_a_message(olivetti_checkpoint, capsys, args, message):
    assert main(["forget", "--checkpoint", str(olivetti_checkpoint), *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["forget", "--forget-random", "1", "--preset", "foo"], "--preset 'foo' is unknown for unsir"),
    (["forget", "--forget-random", "1", "--methods", "finetune", "--noise-steps", "5"], "--noise-steps is not a setting of finetune"),
    (["forget", "--forget-random", "1", "--methods", "unsir,nope"], "unknown method nope"),
    (["bench", "--forget-counts", "1,two"], "expected comma-separated whole numbers"),
    (["bench", "--seeds", "x"], "expected comma-separated whole numbers"),
    (["bench", "--methods", "magic"], "unknown method magic"),
    (["bench", "--out", "results.json"], "the Markdown file; its records go beside it as .json"),
    (["bench", "--retrain-seeds", "-1"], "expected a whole number from 0 to 1000, got '-1'"),
])
def test_bad_flags_exit_2_in_one_line_before_any_data_is_read(tmp_path, capsys, args, message):
    missing = tmp_path / "no-such-checkpoint"  # reading it would fail with another message
    assert main([args[0], "--checkpoint", str(missing), *args[1:]]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_forget_checks_the_names_against_the_card_before_reading_any_data(olivetti_checkpoint, tmp_path, capsys):
    """A typo is answered at once, from the card, not after the photos are read (here they could not be)."""
    nowhere = ["--data-home", str(tmp_path / "no-data-here")]
    assert main(["forget", "--checkpoint", str(olivetti_checkpoint), "--forget", "person_O1", *nowhere]) == 2
    assert "Unknown identities" in capsys.readouterr().err
    assert main(["forget", "--checkpoint", str(olivetti_checkpoint), "--forget", "person_01", "--save-model",
                 str(olivetti_checkpoint), *nowhere]) == 2
    assert "the original would be replaced" in capsys.readouterr().err
    # Every method's settings too, the retrain's (built from the card's recipe) among them.
    for args, message in ((["--impair-lr", "-1"], "impair_lr must be a number from 1e-08 to 1"),
                          (["--methods", "retrain", "--training-seed", "-1"], "training_seed must be a number from 0")):
        assert main(["forget", "--checkpoint", str(olivetti_checkpoint), "--forget", "person_01", *args, *nowhere]) == 2
        assert message in capsys.readouterr().err


def test_train_refuses_to_write_over_a_model(olivetti_checkpoint, capsys):
    assert main(["train", "--dataset", "olivetti", "--out", str(olivetti_checkpoint)]) == 2
    assert "already holds a model" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--image-size", "0"], "--image-size: expected a whole number from 8 to 1024, got '0'"),
    (["--identities", "1"], "--identities: expected a whole number from 2 to"),
    (["--max-per-identity", "0"], "--max-per-identity: expected a whole number from 4 to"),
    (["--lr", "x"], "--lr: expected a number from 1e-08 to 10, got 'x'"),
])
def test_train_flags_out_of_range_exit_2_in_one_line(tmp_path, capsys, args, message):
    assert main(["train", "--out", str(tmp_path / "model"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not (tmp_path / "model").exists()


def test_a_float_setting_without_default_takes_a_fraction():
    from unsir.cli import build_parser

    args = build_parser().parse_args(["forget", "--checkpoint", "m", "--forget-random", "1", "--max-grad-norm", "0.5"])
    assert args.max_grad_norm == 0.5


def test_forgetting_every_identity_is_refused(olivetti_checkpoint, capsys):
    everyone = ",".join(f"person_{i:02d}" for i in range(40))
    assert main(["forget", "--checkpoint", str(olivetti_checkpoint), "--forget", everyone]) == 2
    assert "keep at least one" in capsys.readouterr().err


def test_missing_checkpoint_exits_2(tmp_path, capsys):
    assert main(["eval", "--checkpoint", str(tmp_path / "none")]) == 2
    assert "unsir train" in capsys.readouterr().err


def broken_checkpoint(source: Path, folder: Path, kind: str) -> Path:
    """A copy of `source` with its weights truncated, pickled, or from another architecture."""
    shutil.copytree(source, folder)
    weights = folder / "model.safetensors"
    if kind == "truncated":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif kind == "pickle":
        weights.unlink()
        torch.save(build_model("resnet18", 40, 32).state_dict(), folder / "model.pt")
    else:
        save_checkpoint(build_model("vit", 40, 32), {**json.loads((source / "card.json").read_text()), "arch": "vit"},
                        folder)
        card = json.loads((folder / "card.json").read_text())
        (folder / "card.json").write_text(json.dumps({**card, "arch": "resnet18"}))
    return folder


@pytest.mark.parametrize(("kind", "message"), [
    ("truncated", "not a readable safetensors file"),
    ("pickle", "model.pt are pickles, which are refused because unpickling runs code"),
    ("other-architecture", "does not match a resnet18 for 40 identities"),
])
def test_a_broken_checkpoint_exits_2_with_what_is_wrong(olivetti_checkpoint, tmp_path, capsys, kind, message):
    broken = broken_checkpoint(olivetti_checkpoint, tmp_path / kind, kind)
    for command in (["eval"], ["forget", "--forget", "person_01"]):
        assert main([*command, "--checkpoint", str(broken)]) == 2
        assert message in capsys.readouterr().err


def identity_folder(root: Path, lfw_root: Path, photos: int, unreadable: int = 0) -> Path:
    """Two people with `photos` readable photos and `unreadable` broken files each."""
    for name in ("Tony_Blair", "Colin_Powell"):
        (root / name).mkdir(parents=True)
        for photo in sorted((lfw_root / name).iterdir())[:photos]:
            (root / name / photo.name).write_bytes(photo.read_bytes())
        for index in range(unreadable):
            (root / name / f"broken{index}.jpg").write_bytes(b"not a jpeg")
    return root


@pytest.mark.parametrize(("photos", "unreadable", "message"), [
    (0, 0, "holds no identity sub-folders with images"),
    (1, 0, "Only 0 of the 2 identity folders"),
    (1, 5, "have fewer than 4 readable images"),
])
def test_an_unusable_dataset_folder_exits_2_with_what_is_wrong(tmp_path, lfw_root, capsys, photos, unreadable,
                                                              message):
    data = identity_folder(tmp_path / "faces", lfw_root, photos, unreadable)
    assert main(["train", "--dataset", str(data), "--image-size", "32", "--out", str(tmp_path / "model")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


def test_forget_reports_the_feature_evidence_and_the_controls(olivetti_checkpoint, tmp_path, capsys):
    report_path = tmp_path / "r.json"
    assert main(["forget", "--checkpoint", str(olivetti_checkpoint), "--forget-random", "3", "--seed", "7",
                 "--methods", "unsir,head-only,logit-mask", "--preset", "fast", "--noise-steps", "5", "--report", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    # the controls leave the features as they were, and the printout says so
    control, = [line for line in capsys.readouterr().err.splitlines() if line.strip().startswith("logit-mask (control):")]
    assert "kNN on features " in control and "(not moved)" in control
    keys = {"feature_knn_forget_acc", "feature_knn_retain_acc", "feature_probe_forget_acc", "feature_probe_retain_acc",
            "mia_auc_forget"}
    assert keys <= set(report["original"])
    for name in ("unsir", "head-only", "logit-mask"):
        assert keys <= set(report["methods"][name])
        assert report["methods"][name]["control"] is (name != "unsir")


def test_progress_in_a_log_is_whole_lines_one_per_stage(capsys):
    bars = StageBars()
    for stage, fractions in (("unsir: noise", (0.0, 0.1, 0.25)), ("unsir: impair", (0.25, 0.4, 0.5))):
        for fraction in fractions:
            bars(stage, fraction)
    bars.close()
    lines = capsys.readouterr().err.splitlines(keepends=True)
    assert not any("\r" in line for line in lines)  # captured stderr is not a terminal: nothing redrawn
    assert [line.split("%")[0].split() for line in lines] == [["unsir:", "noise", "25.0"], ["unsir:", "impair", "50.0"]]


def test_forget_says_where_the_commands_seconds_went(olivetti_checkpoint, tmp_path, capsys):
    report_path = tmp_path / "r.json"
    assert main(["forget", "--checkpoint", str(olivetti_checkpoint), "--forget", "person_03", "--methods", "logit-mask",
                 "--report", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    seconds = report["command_seconds"]
    assert set(seconds) == {"startup", "load", "whole"} and all(value > 0 for value in seconds.values())
    parts = seconds["startup"] + seconds["load"] + report["original"]["stages"]["evaluate"] + sum(
        report["methods"]["logit-mask"]["stages"].values())
    assert parts <= seconds["whole"]
    err = capsys.readouterr().err
    assert "startup (imports)" in err and "logit-mask: " in err and "whole command" in err and "\r" not in err
    lines = err.splitlines()  # in a log, the last stage's line comes before what the command says after it
    wrote = next(i for i, line in enumerate(lines) if line.startswith("wrote "))
    assert any(line.strip().startswith("logit-mask: evaluate") for line in lines[:wrote])
    assert not any(line.strip().startswith("logit-mask: evaluate") for line in lines[wrote:])


def test_save_model_writes_each_unlearned_model_with_a_card_saying_what_it_forgot(olivetti_checkpoint, tmp_path):
    from unsir.checkpoints import load_checkpoint, weights_sha256

    report_path, out = tmp_path / "r.json", tmp_path / "unlearned"
    assert main(["forget", "--checkpoint", str(olivetti_checkpoint), "--forget", "person_03", "--methods",
                 "unsir,logit-mask", "--noise-steps", "3", "--report", str(report_path), "--save-model", str(out)]) == 0
    report = json.loads(report_path.read_text())
    for name in ("unsir", "logit-mask"):  # two methods: a folder each
        model, card = load_checkpoint(out / name)
        assert weights_sha256(model) == report["sha256"][name]  # the very model the report measured
        unlearned = card["unlearned"]
        assert unlearned["forget"] == ["person_03"] and unlearned["method"] == name
        assert unlearned["original_sha256"] == report["sha256"]["original"]
        assert unlearned["zero_glance"] and unlearned["data_read"] == report["methods"][name]["data_read"]
        for key in ("forget_test_acc", "retain_test_acc", "mia_forget", "mia_auc_forget", "feature_knn_forget_acc"):
            assert unlearned["metrics"][key] == report["methods"][name][key], key
    assert card["identities"] == load_checkpoint(olivetti_checkpoint)[1]["identities"]


def test_train_a_distilled_vit_and_its_card_records_the_recipe_and_data_options(olivetti_checkpoint, tmp_path,
                                                                                 capsys):
    from unsir.checkpoints import load_checkpoint

    vit = ["train", "--arch", "vit", "--dataset", "olivetti", "--image-size", "32", "--epochs", "1", "--batch-size",
           "32", "--lr", "0.001"]
    distilled = tmp_path / "vit-distilled"
    assert main([*vit, "--teacher", str(olivetti_checkpoint), "--out", str(distilled)]) == 0
    _, card = load_checkpoint(distilled)
    assert card["arch"] == "vit" and card["teacher"] == str(olivetti_checkpoint)
    recipe = card["recipe"]
    assert (recipe["epochs"], recipe["batch_size"], recipe["max_lr"]) == (1, 32, 0.001)
    assert recipe["distill_alpha"] > 0  # the ViT's recipe distils its teacher
    # A teacher split otherwise has trained on some of the student's test photos: refused, nothing trained.
    refused = tmp_path / "vit-refused"
    assert main([*vit, "--split-seed", "1", "--teacher", str(olivetti_checkpoint), "--out", str(refused)]) == 2
    assert "split_seed differ" in capsys.readouterr().err and not refused.exists()
    # The data options are recorded (without a teacher, which was split otherwise).
    out = tmp_path / "vit-olivetti"
    assert main([*vit, "--split-seed", "1", "--max-per-identity", "8", "--out", str(out)]) == 0
    model, card = load_checkpoint(out)
    dataset = card["dataset"]
    assert (dataset["split_seed"], dataset["max_per_identity"]) == (1, 8)
    assert dataset["n_train"] + dataset["n_test"] == 40 * 8  # Olivetti: 40 people, at most 8 photos each here
    assert card["identities"] == load_checkpoint(olivetti_checkpoint)[1]["identities"]
    assert sum(p.numel() for p in model.parameters()) > 0 and 0 <= card["test_acc"] <= 1
    from unsir.pipeline import load

    loaded = load(out)  # the same capped sample and split again, from the card
    assert (len(loaded.split.train), len(loaded.split.test)) == (dataset["n_train"], dataset["n_test"])
    assert main(["eval", "--checkpoint", str(out)]) == 0


@pytest.mark.parametrize("args, message", [
    (["--identities", "20"], "--identities picks LFW's most photographed people; olivetti keeps every person"),
    (["--max-per-identity", "3"], "--max-per-identity: expected a whole number from 4 to"),  # 3 to test, 1 to train
])
def test_a_train_option_the_dataset_cannot_honour_exits_2_and_trains_nothing(tmp_path, capsys, args, message):
    """A card must not record an option its data never had: refused, not ignored."""
    assert main(["train", "--dataset", "olivetti", "--image-size", "32", "--epochs", "1", *args,
                 "--out", str(tmp_path / "model")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


def test_a_model_of_an_identity_folder_is_measured_from_anywhere_and_after_the_folder_grows(tmp_path, lfw_root,
                                                                                           monkeypatch):
    """The card names the folder by its full path and its people by name: another working directory, or a person
    added to the folder since, still measures the model on the photos it was trained on."""
    faces = tmp_path / "faces"

    def add(name: str) -> None:
        (faces / name).mkdir(parents=True)
        for photo in sorted((lfw_root / name).iterdir())[:6]:
            (faces / name / photo.name).write_bytes(photo.read_bytes())

    add("Tony_Blair")
    add("Colin_Powell")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dataset", "faces", "--image-size", "32", "--epochs", "1", "--out", "model"]) == 0
    add("George_W_Bush")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["eval", "--checkpoint", str(tmp_path / "model")]) == 0


def test_forget_help_names_each_per_size_default_where_it_changes(capsys):
    from unsir.cli import main

    assert main(["forget", "--help"]) == 0
    words = " ".join(capsys.readouterr().out.split())
    # UNSIR's ResNet18 impairs twice from 10 people; the 20-person tier keeps that and changes other settings.
    assert "(default 'impair-repair', resnet18 from 10 people 'impair-impair-repair'; unsir)" in words
    assert "resnet18 from 20 people 20" in words  # retain photos per kept person
