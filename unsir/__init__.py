"""UNSIR face forgetting: data, models, unlearning methods, metrics, explanations, reports, CLI.

This package never imports gradio: the UI lives in `demo/`.
"""
import time

# When the package began to import (before torch and the rest): `unsir forget` reports its startup from here.
STARTED = time.perf_counter()
