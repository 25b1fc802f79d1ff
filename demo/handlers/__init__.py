"""The work behind each event of the page, as plain functions that need no server, one module per
section of the page: `session` (the visitor's state, the page's start), `choose`, `forget` (with
`unlearning`, the device function behind it),
`compare`, `retrain`, `recognition`, `exports`; and, shared by them, `summary` (the Before | after table),
`verdicts` (what a request achieved, in words) and `stopping` (a long run stopped at its next step).

Each function takes the values of the input components (and the visitor's Session) and
returns the values of the output components. Problems a person can fix are raised as
gr.Error, so the previous results stay on screen.
"""
from __future__ import annotations

from ..workspace import CPU
from .compare import CompareView, check_compare, compare_methods, comparison_view, plain_words
from .choose import ModelView, identity_choices, known_only, pick_random, selection_summary, switch_model, toggle_identity
from .exports import AUDIT, check_export, export
from .forget import (MODEL_DEFAULT, ForgetView, ResetView, check_more, check_request, forget_asked, forget_faces,
                     forget_more, method_config, reset, results_view, undo)
from .recognition import (SAMPLE_SIZE, TOP_PREDICTIONS, RecogniseView, SampleView, calibrate, check_forgotten, check_photo,
                          forgotten_test_photo, recognise)
from .retrain import (RetrainView, cancel_retrain, check_retrain, measure_retrain, retrain_column, retrain_estimate,
                      retrain_from_scratch, stop_retrain_of)
from .stopping import page_closed, stop, stop_page_runs
from .session import (METHOD_LABELS, Request, Session, default_checkpoint, discard_session,
                      model_facts, open_workspace, session_for, startup_problem)
from .summary import SUMMARY_ROWS, Row, summary_table
from .unlearning import Underway, Unlearned, unlearn
from .verdicts import collateral_damage, status_line
