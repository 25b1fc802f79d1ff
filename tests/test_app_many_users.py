"""Eight visitors at once through the public API, on the app served in this process so that its
insides can be checked: no cross-talk, one unlearning at a time, the shared model untouched after
every run, and nothing of a visitor left in memory once their session ends.

benchmarks/reliability.py runs the same with 100 visitors and measures memory.
"""
from __future__ import annotations

import gc
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from demo import handlers
from demo.workspace import workspace
from unsir.checkpoints import load_checkpoint, weights_sha256

from app_server import served_here, visit

CHECKPOINT = "resnet18-olivetti"
QUICK = {"retain_per_id": 2, "noise_steps": 3}
VISITORS = 8
SESSION_END_SECONDS = 60  # Gradio notices a closed client at its next heartbeat (15 s)


def file_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def served(olivetti_checkpoint):
    """(the page, its Runs, the checkpoint files' hashes before it served anyone)."""
    before = file_hashes(olivetti_checkpoint)
    with served_here(olivetti_checkpoint.parent) as (demo, runs):
        yield demo, runs, before


@pytest.fixture(scope="module")
def visits(served, tmp_path_factory):
    """Eight visitors at once, each forgetting two people no other visitor asks for."""
    demo, *_ = served
    wanted = [[f"person_{2 * i:02d}", f"person_{2 * i + 1:02d}"] for i in range(VISITORS)]
    folder = tmp_path_factory.mktemp("visitors")
    with ThreadPoolExecutor(VISITORS) as pool:
        done = pool.map(lambda i: visit(demo.local_url, wanted[i], folder / str(i), **QUICK), range(VISITORS))
        return list(zip(wanted, done))


def test_eight_visitors_at_once_each_get_their_own_results_one_run_at_a_time(served, visits, olivetti_checkpoint):
    _, runs, shipped = served
    base = weights_sha256(load_checkpoint(olivetti_checkpoint)[0])
    for names, (_, report, audit) in visits:
        assert report["forget"] == names and audit["forget"] == names  # no visitor got another's results
        assert report["sha256"]["original"] == base  # every run started from the untouched shared model
    assert runs.most_at_once == 1  # the device queue let one unlearning run at a time
    assert runs.base_hashes == [base] * VISITORS  # after every run, the shared model was still the shipped one
    assert file_hashes(olivetti_checkpoint) == shipped  # and so were the checkpoint's files


def test_when_the_visitors_leave_nothing_of_theirs_stays_in_memory_or_on_disk(served, visits):
    demo, *_ = served
    state = demo.state_holder.session_data  # Gradio's: session -> {State component: value}
    sessions = [client.session_hash for _, (client, *_) in visits]
    folders = [Path(session.export_dir) for s in sessions for session in state[s].state_data.values()]
    assert len(folders) == VISITORS and all(folder.is_dir() for folder in folders)
    for _, (client, *_) in visits:
        client.close()
    deadline = time.monotonic() + SESSION_END_SECONDS
    while any(state[s].state_data for s in sessions):
        assert time.monotonic() < deadline, "closed sessions kept their state"
        time.sleep(0.5)
    assert not any(folder.exists() for folder in folders)  # their exported files went with them
    gc.collect()
    objects = gc.get_objects()
    assert not [o for o in objects if type(o) is handlers.Session and o.weights is not None]
    assert not [o for o in objects if type(o) is Figure]  # every figure was let go once sent
    model = workspace(CHECKPOINT).model  # GradCAM's hooks were all removed from the shared model
    assert not any(m._forward_hooks or m._backward_hooks or m._forward_pre_hooks for m in model.modules())
