"""`unsir verify`: check a weights file against an audit report, with nothing but the two files; with
`--measure`, also measure the unlearned model again on the data and set every number beside the audit's."""
from __future__ import annotations

import json
import math
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file

from .checkpoints import CARD, WEIGHTS, load_weights, read_card, state_sha256
from .reports import AUDIT_FORMAT, PHOTO_COUNTS, file_sha256

# The audit's numbers measured again, each with the photos it counts: a number agrees when it differs by at most
# one of them (another CPU may round a borderline photo the other way: bf16 on one, float32 on another), or, for
# the AUC, which counts no photos, by at most AGREES_WITHIN. The KS compares the confidences on every photo of the
# forgotten people with the strangers': one of those photos moves it by one over their number.
MEASURED_AGAIN = (
    ("forget_test_acc", "forgotten people: held-out photos named as them", "n_forget_test"),
    ("retain_test_acc", "kept people: held-out photos named correctly", "n_retain_test"),
    ("forget_train_acc", "forgotten people: training photos named as them", "n_forget_train"),
    ("retain_train_acc", "kept people: training photos named correctly", "n_retain_train"),
    ("mia_forget", "membership attack: forgotten training photos called 'trained on'", "n_forget_train"),
    ("feature_knn_forget_acc", "forgotten people found by nearest neighbours in the features", "n_forget_test"),
    ("feature_probe_forget_acc", "forgotten people found by a probe on the features", "n_forget_test"),
    ("mia_auc_forget", "membership AUC, by the loss (0.5: cannot tell)", None),
    ("stranger_ks", "distance from strangers (KS)", ("n_forget_train", "n_forget_test")),
)
AGREES_WITHIN = 0.02


class AuditError(ValueError):
    """An audit or weights file that cannot be read (not a mismatch: that is a verdict)."""


def weights_file_sha256(path) -> str:
    """The weights hash of a safetensors file, as the audit's weights_sha256 defines it: the float tensors in
    float32 (the shipped files hold float16, the exported ones float32), as a model loaded from either holds them."""
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise AuditError(f"{path} is not a readable safetensors file ({error}).") from error
    return state_sha256(state)


# What verify and --measure read from an audit: (path of keys, what it holds).
REQUIRED = ((("files_sha256", "exported"), "the exported files' sha256"),
            (("files_sha256", "shipped"), "the shipped files' sha256"),
            (("weights_sha256", "before"), "the shipped weights' hash"),
            (("weights_sha256", "after"), "the unlearned weights' hash"),
            (("forget",), "who was forgotten"), (("method",), "the method"), (("seed",), "the seed"),
            (("metrics", "after"), "the unlearned model's numbers"))


def read_audit(path) -> dict:
    try:
        audit = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise AuditError(f"{path} is not a readable JSON audit ({error}).") from error
    if not isinstance(audit, dict) or audit.get("report") != AUDIT_FORMAT:
        raise AuditError(f"{path} is not an {AUDIT_FORMAT} audit report (exported by the app's Export button).")
    for keys, meaning in REQUIRED:
        value = audit
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            raise AuditError(f"{path} lacks {'.'.join(keys)} ({meaning}): it is incomplete or was edited; export "
                             "the audit again from the app.")
    return audit


def verify(audit_path, weights_path) -> tuple[bool, list[str]]:
    """(whether the weights file is the one the audit recorded, lines saying what matched)."""
    audit = read_audit(audit_path)
    if not Path(weights_path).is_file():
        raise AuditError(f"No file at {weights_path}.")
    name = Path(weights_path).name
    digest = file_sha256(weights_path)
    files = audit["files_sha256"]
    lines = [f"sha256 {digest}  {weights_path}",
             f"sha256 {file_sha256(audit_path)}  {audit_path} (the audit itself: these checks show that the weights "
             "and this audit belong together, not who wrote them; compare this hash with the one the app showed at "
             "export, kept or published apart from the files)"]
    if digest == files["exported"].get(WEIGHTS):
        lines.append("OK: the file is the model this audit exported (files_sha256.exported).")
        weights = weights_file_sha256(weights_path)
        if weights != audit["weights_sha256"]["after"]:
            lines.append(f"MISMATCH: its weights hash {weights} is not the audit's weights_sha256.after "
                         f"({audit['weights_sha256']['after']}).")
            return False, lines
        lines.append("OK: its weights hash equals weights_sha256.after (the weights the metrics were measured on).")
        lines += claimed(audit)
        return True, lines
    if digest == files["shipped"].get(WEIGHTS):
        lines.append("NOT UNLEARNED: the file is the shipped model the unlearning started from "
                     "(files_sha256.shipped), not the unlearned one.")
        weights = weights_file_sha256(weights_path)
        same = weights == audit["weights_sha256"]["before"]
        lines.append(f"{'OK' if same else 'MISMATCH'}: its weights hash {'equals' if same else 'is not'} "
                     "weights_sha256.before (the weights the unlearning started from)"
                     f"{'' if same else ' (' + audit['weights_sha256']['before'] + ')'}.")
        return False, lines
    lines.append(f"MISMATCH: {name} is neither the exported nor the shipped {WEIGHTS} of this audit "
                 f"(exported: {files['exported'].get(WEIGHTS)}; shipped: {files['shipped'].get(WEIGHTS)}).")
    return False, lines


def claimed(audit: dict) -> list[str]:
    """What the audit says that these files cannot show, labelled as such."""
    lines = [f"CLAIMED by the audit, not shown by these files: {', '.join(audit['forget'])} forgotten with "
             f"{audit['method']}; zero-glance {'yes' if audit.get('zero_glance') else 'no'} (what each method reads "
             "is declared by its code, not recorded in the weights). `--measure` checks its numbers on the data."]
    if audit.get("control"):
        lines.append("CONTROL, NOT UNLEARNING: a request of this model used a control, which only hides the "
                     "forgotten people at the output; the model still holds them.")
    return lines


def _agrees(recorded, measured, photos: int | None) -> bool:
    if recorded is None or measured is None or measured != measured:  # not measurable (e.g. no strangers): both
        return (recorded is None) == (measured is None or measured != measured)
    tolerance = 1 / photos if photos else AGREES_WITHIN
    return math.isclose(recorded, measured, abs_tol=tolerance + 1e-9)


def _shown(value) -> str:
    return "not measured" if value is None or value != value else f"{value:.3f}"


def compare_measured(audit: dict, measured: dict, photos_of: dict[str, int]) -> tuple[bool, list[str]]:
    """(whether every number measured again agrees with the audit's, one line per number). `measured`: the
    core's metrics of the unlearned model on the audit's forget set; `photos_of`: held-out photos per person."""
    recorded, lines, agree = audit["metrics"]["after"], [], True
    def photos(count) -> int | None:
        counts = (count,) if isinstance(count, str) else count or ()
        return sum(measured.get(key) or 0 for key in counts) or None

    for key, label in PHOTO_COUNTS.items():  # the same photos, or the numbers below count others
        if (audit.get("photos") or {}).get(key) is not None:
            same = audit["photos"][key] == measured.get(key)
            agree &= same
            lines.append(f"{'OK' if same else 'DIFFERS'}: {label} counted: audit {audit['photos'][key]}, measured "
                         f"{measured.get(key)}{'' if same else ' (other data than the audit was measured on)'}")
    per_person_photos = audit.get("forget_per_identity_n_test") or {}  # absent from audits before 2026-12-08
    for name, count in per_person_photos.items():
        same = count == photos_of.get(name)
        agree &= same
        lines.append(f"{'OK' if same else 'DIFFERS'}: {name}: held-out photos counted: audit {count}, measured "
                     f"{photos_of.get(name)}{'' if same else ' (other data than the audit was measured on)'}")
    checks = [(label, recorded.get(key), measured.get(key), photos(count)) for key, label, count in MEASURED_AGAIN]
    for per_person, label in (("forget_per_identity_test_acc", "held-out photos named as them"),
                              ("feature_knn_forget_per_identity_acc", "found by nearest neighbours in the features")):
        for name, value in ((audit.get(per_person) or {}).get("after") or {}).items():
            checks.append((f"{name}: {label}", value, measured.get(per_person, {}).get(name), photos_of.get(name)))
    for label, before, now, photos in checks:
        ok = _agrees(before, now, photos)
        agree &= ok
        counted = f" ({photos} photos)" if photos else ""
        lines.append(f"{'OK' if ok else 'DIFFERS'}: {label}{counted}: audit {_shown(before)}, measured {_shown(now)}")
    return agree, lines


def measure_again(audit_path, weights_path, data_home=None, card_path=None) -> tuple[bool, list[str]]:
    """Measure the unlearned model again, on the data its card names (read from the data home, downloaded there
    by scikit-learn where missing), and compare every number with the audit's. The card (by default the card.json
    beside the weights) must be the one the audit exported: it says which photos the numbers were measured on."""
    from .evaluation import Predictions, forgetting_metrics
    from .forgetting import ForgetError, resolve_identities
    from .pipeline import Loaded, dataset_for_card, load_strangers_for
    from .training import default_device

    audit = read_audit(audit_path)
    card_path = Path(card_path) if card_path else Path(weights_path).parent / CARD
    if not card_path.is_file():
        raise AuditError(f"--measure reads the card exported with the weights, which says which photos to measure: "
                         f"no file at {card_path} (name it with --card).")
    if file_sha256(card_path) != audit["files_sha256"]["exported"].get(CARD):
        raise AuditError(f"{card_path} is not the card this audit exported (files_sha256.exported): the numbers "
                         "would be measured on other photos.")
    card = read_card(card_path)
    loaded = Loaded(load_weights(weights_path, card).to(default_device()), card, dataset_for_card(card, data_home),
                    card_path.parent)
    try:
        forget_classes = resolve_identities(audit["forget"], loaded.split.names)
    except ForgetError as error:
        raise AuditError(str(error)) from error
    predictions = Predictions.of(loaded.model, loaded.split, load_strangers_for(loaded, data_home))
    measured = forgetting_metrics(predictions, loaded.split, forget_classes, seed=audit["seed"])
    measured["n_retain_train"] = len(loaded.split.train) - measured["n_forget_train"]
    agree, lines = compare_measured(audit, measured, measured["forget_per_identity_n_test"])
    verdict = ("OK: every number measured again agrees with the audit's." if agree else
               "DIFFERS: some numbers measured again do not agree with the audit's (above).")
    return agree, [f"Measured again on {len(loaded.split.test)} held-out and {len(loaded.split.train)} training "
                   f"photos of {loaded.card['dataset']['name']}:", *lines, verdict]
