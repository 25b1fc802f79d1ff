"""UNSIR face forgetting: data, models, unlearning methods, metrics, explanations, reports, CLI.

This package never imports gradio: the UI lives in `demo/`.
"""
