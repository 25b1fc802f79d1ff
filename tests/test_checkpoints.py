import json
import pickle

import pytest
import torch
import torch.nn.functional as F

from unsir.checkpoints import load_checkpoint, read_card, save_checkpoint, weights_sha256
from unsir.data import MEAN, STD
from unsir.nets import ModelError, blocks, build_model, learning_from, split_at


def card_for(arch="resnet18", classes=5, size=32):
    return {"arch": arch, "image_size": size, "identities": [f"id{i}" for i in range(classes)],
            "normalisation": {"mean": list(MEAN), "std": list(STD)}, "dataset": {"name": "olivetti", "split_seed": 0}}


@pytest.mark.parametrize("arch", ["resnet18", "vit"])
def test_round_trip_is_bit_exact(tmp_path, arch):
    model = build_model(arch, 5, 32)
    save_checkpoint(model, card_for(arch), tmp_path, dtype=torch.float32)
    loaded, card = load_checkpoint(tmp_path)
    assert card == card_for(arch)
    assert weights_sha256(loaded) == weights_sha256(model)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name


def test_half_precision_checkpoint_loads_as_rounded_float32(tmp_path):
    model = build_model("resnet18", 5, 32)
    save_checkpoint(model, card_for(), tmp_path)
    loaded, _ = load_checkpoint(tmp_path)
    assert loaded.fc.weight.dtype == torch.float32
    assert torch.equal(loaded.fc.weight, model.fc.weight.half().float())


class Exploit:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('unpickled')",))


def test_pickle_is_refused_and_never_unpickled(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "card.json").write_text(json.dumps(card_for()))
    (tmp_path / "model.safetensors").write_bytes(pickle.dumps({"fc.weight": Exploit()}))
    with pytest.raises(ModelError, match="pickle"):
        load_checkpoint(tmp_path)
    assert not (tmp_path / "PWNED").exists()


def test_truncated_missing_and_mismatched_checkpoints_give_clear_errors(tmp_path):
    model = build_model("resnet18", 5, 32)
    save_checkpoint(model, card_for(), tmp_path / "ok")
    data = (tmp_path / "ok" / "model.safetensors").read_bytes()
    (tmp_path / "ok" / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated"):
        load_checkpoint(tmp_path / "ok")
    with pytest.raises(ModelError, match="unsir train"):
        load_checkpoint(tmp_path / "missing")
    save_checkpoint(model, card_for(arch="vit"), tmp_path / "other")
    with pytest.raises(ModelError, match="does not match"):
        load_checkpoint(tmp_path / "other")


@pytest.mark.parametrize(("card", "message"), [
    ([card_for()], "must hold a JSON object, not list"),
    ({**card_for(), "arch": 3}, r"lacks a valid 'arch' \(str\)"),
    ({**card_for(), "identities": ["id0", "id0"]}, "'identities' must list at least 2 distinct, non-empty names"),
    ({**card_for(), "image_size": 10**6}, "'image_size' must be from 8 to 1024 pixels, got 1000000"),
    ({**card_for(), "dataset": {}}, "'dataset' must give the data's 'name' and its 'split_seed'"),
])
def test_a_card_that_does_not_describe_a_usable_model_is_refused(tmp_path, card, message):
    (tmp_path / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match=message):
        read_card(tmp_path)


@pytest.mark.parametrize("arch", ["resnet18", "vit"])
def test_split_at_any_block_gives_the_models_own_outputs_and_modules(arch):
    torch.manual_seed(0)
    model = build_model(arch, 10, 32).eval()
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        whole = model(images)
        for block in blocks(model)[1:]:
            frozen, learner = split_at(model, block)
            assert torch.allclose(learner(frozen(images)), whole, atol=1e-5), block
            # The tail trains the model's own weights, and the first of them belong to `block`.
            own = {id(p): name for name, p in model.named_parameters()}
            assert own[id(next(learner.parameters()))].startswith(block + ".")
    with pytest.raises(ValueError, match="Nothing comes before"):
        split_at(model, blocks(model)[0])
    # Cut after the stem alone, the frozen part still holds the stem: eval() and the device reach it.
    frozen, _ = split_at(model.train(), blocks(model)[1])
    frozen.eval()
    assert next(frozen.parameters()).device == images.device
    assert not any(module.training for module in frozen.modules())
    assert not getattr(model, "conv_proj", getattr(model, "conv1", None)).training


@pytest.mark.parametrize("arch, block", [("resnet18", "layer3"), ("vit", "encoder.layers.encoder_layer_3")])
def test_learning_from_a_block_trains_only_it_and_the_later_ones(arch, block):
    """The compared methods' `learn_from`: the earlier blocks (the ViT's class token and positions too) keep
    their weights and BatchNorm statistics through training steps, and learn again once the context ends."""
    torch.manual_seed(0)
    model = build_model(arch, 10, 32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with learning_from(model, block) as learner:
        optimiser = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        for _ in range(2):
            learner.train()
            F.cross_entropy(learner(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3])).backward()
            optimiser.step()
            optimiser.zero_grad()
        assert torch.allclose(learner.eval()(torch.ones(1, 3, 32, 32)), model.eval()(torch.ones(1, 3, 32, 32)))
    after = model.state_dict()
    later = blocks(model)[blocks(model).index(block):]
    for name in before:
        moved = not torch.equal(before[name], after[name])
        if name.startswith(tuple(later)):
            assert moved, name
        else:
            assert not moved, name
    assert all(p.requires_grad for p in model.parameters())
    with learning_from(model, "") as learner:
        assert learner is model


def test_a_model_is_not_measured_on_other_photos_than_it_was_trained_on(olivetti_checkpoint):
    """Other photos of the same people would split otherwise: its held-out photos would not be held out."""
    from unsir.data import DataError
    from unsir.pipeline import dataset_for_card

    card = json.loads((olivetti_checkpoint / "card.json").read_text())
    assert dataset_for_card(card).fingerprint == card["dataset"]["fingerprint"]
    with pytest.raises(DataError, match="not the ones this model was trained on"):
        dataset_for_card({**card, "dataset": {**card["dataset"], "fingerprint": "0" * 16}})
    with pytest.raises(DataError, match="expects its photos normalised with"):
        dataset_for_card({**card, "normalisation": {"mean": [0.0] * 3, "std": [1.0] * 3}})
