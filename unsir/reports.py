"""Audit reports: what was forgotten, how, what data the unlearning read, and the evidence."""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone

METRIC_KEYS = ("retain_test_acc", "forget_test_acc", "retain_train_acc", "forget_train_acc",
               "retain_balanced_test_acc", "mia_forget", "stranger_ks")


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


def audit_report(report: dict, method: str, *, checkpoint: str, started_at: datetime,
                 finished_at: datetime | None = None) -> dict:
    """A JSON-able record of one unlearning request, for the person who has to answer for it."""
    entry = report["methods"][method]
    finished_at = finished_at or datetime.now(timezone.utc)
    return {
        "report": "unsir-audit/1",
        "checkpoint": checkpoint,
        "architecture": report["checkpoint_arch"],
        "dataset": report["dataset"],
        "forget": report["forget"],
        "method": method,
        "hyperparameters": entry["hyperparameters"],
        "seed": report["seed"],
        "device": report["device"],
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": finished_at.isoformat(timespec="seconds"),
        "seconds": entry["seconds"],
        "zero_glance": entry["zero_glance"],
        "data_read": entry["data_read"],
        "statement": zero_glance_statement(entry),
        "sha256": {"before": report["sha256"]["original"], "after": entry["sha256"]},
        "metrics": {
            "before": {k: report["original"][k] for k in METRIC_KEYS},
            "after": {k: entry[k] for k in METRIC_KEYS},
        },
        "metric_definitions": {"mia_forget": report["mia_variant"], "stranger_ks": report["stranger_variant"]},
    }
