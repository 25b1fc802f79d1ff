import json

from unsir.cli import main


def test_bench_writes_a_table_and_resumes(olivetti_checkpoint, tmp_path):
    out = tmp_path / "RESULTS.md"
    args = ["bench", "--checkpoint", str(olivetti_checkpoint), "--forget-counts", "1", "--seeds", "0",
            "--methods", "unsir,neggrad", "--relearn-seeds", "0", "--out", str(out)]
    assert main(args) == 0
    records = json.loads(out.with_suffix(".json").read_text())
    assert len(records) == 1 and set(records[0]["report"]["methods"]) == {"unsir", "neggrad"}
    table = out.read_text()
    assert "| resnet18 | 1 | unsir | 1 |" in table and "| resnet18 | 1 | original | 1 |" in table
    assert main(args) == 0  # resumes: nothing left to run, same records
    assert json.loads(out.with_suffix(".json").read_text()) == records
