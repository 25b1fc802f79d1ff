"""`unsir verify`: check a weights file against an audit report, with nothing but the two files."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save

from .reports import AUDIT_FORMAT, file_sha256


class AuditError(ValueError):
    """An audit or weights file that cannot be read (not a mismatch: that is a verdict)."""


def weights_file_sha256(path) -> str:
    """The weights hash of a safetensors file, as the audit's weights_sha256 defines it (float32 files:
    the exported ones)."""
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise AuditError(f"{path} is not a readable safetensors file ({error}).") from error
    return hashlib.sha256(save(state)).hexdigest()


def read_audit(path) -> dict:
    try:
        audit = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise AuditError(f"{path} is not a readable JSON audit ({error}).") from error
    if not isinstance(audit, dict) or audit.get("report") != AUDIT_FORMAT or "files_sha256" not in audit:
        raise AuditError(f"{path} is not an {AUDIT_FORMAT} audit report (exported by the app's Export button).")
    return audit


def verify(audit_path, weights_path) -> tuple[bool, list[str]]:
    """(whether the weights file is the one the audit recorded, lines saying what matched)."""
    audit = read_audit(audit_path)
    if not Path(weights_path).is_file():
        raise AuditError(f"No file at {weights_path}.")
    name = Path(weights_path).name
    digest = file_sha256(weights_path)
    files = audit["files_sha256"]
    lines = [f"sha256 {digest}  {weights_path}"]
    if digest == files["exported"].get("model.safetensors"):
        lines.append("OK: the file is the unlearned model this audit exported (files_sha256.exported).")
        weights = weights_file_sha256(weights_path)
        if weights != audit["weights_sha256"]["after"]:
            lines.append(f"MISMATCH: its weights hash {weights} is not the audit's weights_sha256.after.")
            return False, lines
        lines.append("OK: its weights hash equals weights_sha256.after (the weights the metrics were measured on).")
        lines.append(f"Forgotten: {', '.join(audit['forget'])} ({audit['method']}).")
        return True, lines
    if digest == files["shipped"].get("model.safetensors"):
        lines.append("NOT UNLEARNED: the file is the shipped model the unlearning started from "
                     "(files_sha256.shipped), not the unlearned one.")
        return False, lines
    lines.append(f"MISMATCH: {name} is neither the exported nor the shipped model.safetensors of this audit.")
    return False, lines
