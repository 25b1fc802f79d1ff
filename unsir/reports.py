"""Audit reports: what was forgotten, how, what data the unlearning read, and the evidence."""
from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime, timezone
from typing import NamedTuple

from .evaluation import moved_in_features

AUDIT_FORMAT = "unsir-audit/2"
METRIC_KEYS = ("retain_test_acc", "forget_test_acc", "retain_train_acc", "forget_train_acc",
               "retain_balanced_test_acc", "mia_forget", "stranger_ks", "mia_auc_forget", "feature_knn_forget_acc",
               "feature_probe_forget_acc")
# The photos the numbers count, recorded so that a measurement on other data shows as such (`unsir verify --measure`).
PHOTO_COUNTS = {"n_forget_test": "held-out photos of the forgotten", "n_retain_test": "held-out photos of the kept",
                "n_forget_train": "training photos of the forgotten"}


def to_json(payload) -> str:
    """Strict JSON: a metric that could not be measured (NaN, e.g. no strangers for Olivetti) becomes null."""
    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(item) for item in value]
        return value

    return json.dumps(clean(payload), indent=2, allow_nan=False) + "\n"


def zero_glance_statement(entry: dict) -> str:
    if entry["zero_glance"]:
        return ("Zero-glance: the unlearning read no photo of the forgotten identities. It read only "
                f"{entry['data_read']}.")
    return f"NOT zero-glance: this method read {entry['data_read']}."


class ChainReading(NamedTuple):
    """What the requests that made a model read, all of them together: a model is zero-glance only if every request
    was."""
    zero_glance: bool
    data_read: str
    statement: str


def not_zero_glance(requests: list[dict]) -> list[int]:
    """The indices of the requests that read the forgotten photos, or did not record what they read."""
    return [i for i, request in enumerate(requests) if request.get("zero_glance") is not True]


def not_measured(per_person: dict[str, float | None]) -> list[str]:
    """The forgotten people with no held-out photo: nothing shows whether they are still named."""
    return [name for name, accuracy in per_person.items() if accuracy is None or accuracy != accuracy]


def chain_reading(entry: dict, requests: list[dict]) -> ChainReading:
    """`entry`'s reading for one request (the CLI's, or the app's first); over several, each request's as it
    recorded it (`unlearning.chain_requests`), a request that recorded nothing counting as not zero-glance."""
    if len(requests) <= 1:
        return ChainReading(entry["zero_glance"], entry["data_read"], zero_glance_statement(entry))
    read = "; then ".join(f"{r['method']}: {r.get('data_read', 'not recorded')}" for r in requests)
    looked = [f"request {i + 1} ({requests[i]['method']})" for i in not_zero_glance(requests)]
    if not looked:
        return ChainReading(True, read, f"Zero-glance: no request read a photo of the forgotten identities. In order, "
                                        f"they read only {read}.")
    return ChainReading(False, read, f"NOT zero-glance: {', '.join(looked)} read photos of the forgotten identities "
                                     f"or did not record what it read. In order, the requests read {read}.")


FORGOTTEN_AT_MOST = 0.01  # a forgotten person named on more of their held-out photos is "still recognised"
FILE_HASH = "sha256 of the file's bytes, as `sha256sum FILE` prints it"
WEIGHTS_HASH = ("sha256 of the weights re-serialised by safetensors in float32 (unsir.checkpoints.weights_sha256): "
                "identifies the numbers whatever the file's precision or metadata; it is not a file's hash")


def file_sha256(path) -> str:
    """The sha256 of a file's bytes (what `sha256sum` prints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _names(names) -> str:
    return ", ".join(str(n).replace("_", " ") for n in names)


def plain_summary(report: dict, method: str, requests: list[dict], checkpoint: str,
                  references: dict[str, dict] | None = None) -> str:
    """The audit in a few sentences, for a reader who will not open the numbers; `references` (the control, a
    retrain) are set beside the method's."""
    entry = report["methods"][method]
    asked = "; then ".join(_names(r["forget"]) for r in requests) or _names(report["forget"])
    methods = "; then ".join(dict.fromkeys(r["method"] for r in requests)) or method
    when = (f" between {requests[0]['started_at']} and {requests[-1]['finished_at']}"
            if requests and requests[0].get("started_at") and requests[-1].get("finished_at") else "")
    per_person = entry["forget_per_identity_test_acc"]
    unchecked = not_measured(per_person)
    still = [name for name, acc in per_person.items() if name not in unchecked and acc > FORGOTTEN_AT_MOST]
    photos = entry.get("forget_per_identity_n_test") or {}
    counted = (" (" + "; ".join(f"{_names([name])}: {round(per_person[name] * photos[name])} of {photos[name]}"
                                for name in per_person if name in photos and name not in unchecked) + ")"
               if photos else "")
    verdict = (f"WARNING: still named: {_names(still)}, on more than {FORGOTTEN_AT_MOST:.0%} of "
               f"their held-out photos{counted}. " if still else
               f"Each forgotten person is named on at most {FORGOTTEN_AT_MOST:.0%} of their held-out photos{counted}. "
               if not unchecked else "")
    if unchecked:
        verdict += (f"WARNING: cannot be checked: {_names(unchecked)} ha{'s' if len(unchecked) == 1 else 've'} no "
                    "held-out photo, so nothing here shows whether they are still named. ")
    controls = controls_used(entry, method, requests)
    warning = (f"CONTROL, NOT UNLEARNING: {', '.join(controls)} only hide{'s' if len(controls) == 1 else ''} the "
               "forgotten people at the output; the model still holds them. " if controls else "")
    return (f"{warning}{len(requests) or 1} request(s){when} asked the model {checkpoint} to forget {asked}, with {methods}. "
            f"On held-out photos (never trained on), the forgotten people were named correctly "
            f"{report['original']['forget_test_acc']:.0%} of the time before and {entry['forget_test_acc']:.0%} "
            f"after; the kept people {report['original']['retain_test_acc']:.0%} before and "
            f"{entry['retain_test_acc']:.0%} after. {verdict}{inside_the_model(report['original'], entry)}"
            f"{beside(references)}"
            f"{chain_reading(entry, requests).statement} Check the exported "
            "weights with `sha256sum model.safetensors` against files_sha256, or with "
            "`unsir verify --audit audit.json --weights model.safetensors`; add `--measure` to measure the model "
            "again on the data its card names and set the unlearned model's numbers beside this audit's.")


def beside(references: dict[str, dict] | None) -> str:
    """The yardsticks in the summary's words: naming nobody is what hiding the output gives too."""
    parts = []
    for name, reference in (references or {}).items():
        knn = reference.get("feature_knn_forget_acc")
        found = f", and its features find {knn:.0%} of their held-out photos" if knn is not None and knn == knn else ""
        parts.append(f"the {name.split(' (')[0]} names them on {reference['forget_test_acc']:.0%}{found}")
    return f"Beside it, {'; '.join(parts)}. " if parts else ""


def controls_used(entry: dict, method: str, requests: list[dict]) -> list[str]:
    """The controls (which hide the output; not unlearning) among the requests behind this model, in order; with
    no request recorded (one method's report), the method's own entry says."""
    if not requests:
        return [method] if entry.get("control") else []
    return list(dict.fromkeys(r["method"] for r in requests if r["control"]))


def inside_the_model(original: dict, entry: dict) -> str:
    """The features' sentence of the summary: naming nobody at the output is not the whole claim."""
    before, after = original.get("feature_knn_forget_acc"), entry.get("feature_knn_forget_acc")
    if before is None or after is None or before != before or after != after:
        return ""
    found = (f"Inside the model, a nearest-neighbour search on its features found {before:.0%} of the forgotten "
             f"people's held-out photos before and {after:.0%} after")
    if moved_in_features(original, entry) is False:
        return (f"{found}: not moved, as when they are only hidden at the output (a model retrained without them may "
                "still find some, since faces look alike). ")
    return (f"{found}; hiding them at the output alone leaves that number unchanged, and a model retrained without "
            "them still finds some, since faces look alike. ")


def audit_report(report: dict, method: str, *, checkpoint: str, requests: list[dict] | None = None,
                 shipped_files: dict[str, str] | None = None, exported_files: dict[str, str] | None = None,
                 exported_at: datetime | None = None, references: dict[str, dict] | None = None) -> dict:
    """A JSON-able record of the unlearning, for the person who has to answer for it: what was asked
    request by request (when, how long, what it measured), the exact files (their sha256, as
    `sha256sum` prints it) and the weights' own hash, a plain-language summary. `references`: the yardsticks
    measured beside the method (name -> report entry: the control that only hides the output, a retrain), whose
    numbers go beside the method's."""
    entry = report["methods"][method]
    requests = list(requests if requests is not None else report.get("requests", []))
    exported_at = exported_at or datetime.now(timezone.utc)
    reading = chain_reading(entry, requests)
    return {
        "report": AUDIT_FORMAT,
        "summary": plain_summary(report, method, requests, checkpoint, references),
        "checkpoint": checkpoint,
        "architecture": report["checkpoint_arch"],
        "dataset": report["dataset"],
        "forget": report["forget"],
        "method": method,
        "hyperparameters": entry["hyperparameters"],
        "seed": report["seed"],
        "device": report["device"],
        "started_at": requests[0].get("started_at") if requests else None,  # the first request's start
        "finished_at": requests[-1].get("finished_at") if requests else None,  # the last request's end
        "exported_at": exported_at.isoformat(timespec="seconds"),
        "seconds": round(sum(r.get("seconds", 0.0) for r in requests), 3),  # every request, click to results
        "unlearning_seconds": round(sum(r.get("unlearning_seconds", 0.0) for r in requests), 3),
        "control": bool(controls_used(entry, method, requests)),  # true: a request only hid the output (not unlearning)
        "zero_glance": reading.zero_glance,
        "data_read": reading.data_read,
        "statement": reading.statement,
        "files_sha256": {"shipped": shipped_files or {}, "exported": exported_files or {}, "how": FILE_HASH},
        "weights_sha256": {"before": report["sha256"]["original"], "after": entry["sha256"], "how": WEIGHTS_HASH},
        "photos": {k: entry.get(k) for k in PHOTO_COUNTS},
        "forget_per_identity_n_test": entry.get("forget_per_identity_n_test"),  # one photo of 3 is 33 points
        "metrics": {
            "before": {k: report["original"].get(k) for k in METRIC_KEYS},
            "after": {k: entry.get(k) for k in METRIC_KEYS},
            **{name: {k: reference.get(k) for k in METRIC_KEYS} for name, reference in (references or {}).items()},
        },
        "forget_per_identity_test_acc": {"before": report["original"]["forget_per_identity_test_acc"],
                                         "after": entry["forget_per_identity_test_acc"]},
        "feature_knn_forget_per_identity_acc": {
            "before": report["original"].get("feature_knn_forget_per_identity_acc"),
            "after": entry.get("feature_knn_forget_per_identity_acc")},
        "requests": requests,
        "metric_definitions": {"mia_forget": report["mia_variant"], "stranger_ks": report["stranger_variant"],
                               **({"mia_auc_forget": report["mia_auc_variant"]} if "mia_auc_variant" in report else {}),
                               **({"feature_knn_forget_acc / feature_probe_forget_acc": report["feature_variant"]}
                                  if "feature_variant" in report else {})},
    }
