import json

import pytest

from unsir.cli import main


def test_train_on_olivetti_reaches_useful_accuracy(olivetti_checkpoint):
    card = json.loads((olivetti_checkpoint / "card.json").read_text())
    assert card["test_acc"] > 0.6  # chance is 0.025
    assert card["arch"] == "resnet18" and len(card["identities"]) == 40
    assert card["train_command"].startswith("unsir train")
    assert set(card["per_identity_test_acc"]) == set(card["identities"])


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
    (["--forget", "person_01", "--impair-lr", "-1"], "positive"),
    (["--forget", "person_01", "--noise-steps", "0"], "positive"),
    ([], "exactly one"),
])
def test_bad_forget_requests_exit_2_with_a_message(olivetti_checkpoint, capsys, args, message):
    assert main(["forget", "--checkpoint", str(olivetti_checkpoint), *args]) == 2
    assert message in capsys.readouterr().err


def test_forgetting_every_identity_is_refused(olivetti_checkpoint, capsys):
    everyone = ",".join(f"person_{i:02d}" for i in range(40))
    assert main(["forget", "--checkpoint", str(olivetti_checkpoint), "--forget", everyone]) == 2
    assert "keep at least one" in capsys.readouterr().err


def test_missing_checkpoint_exits_2(tmp_path, capsys):
    assert main(["eval", "--checkpoint", str(tmp_path / "none")]) == 2
    assert "unsir train" in capsys.readouterr().err
