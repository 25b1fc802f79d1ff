"""Ready for Hugging Face Spaces: the front matter points at app.py, and requirements.txt matches pyproject."""
from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def front_matter() -> dict[str, str]:
    _, header, _ = (ROOT / "README.md").read_text().split("---\n", 2)
    pairs = (line.split(":", 1) for line in header.splitlines() if ":" in line)
    return {key.strip(): value.strip().strip('"') for key, value in pairs}


def test_requirements_txt_lists_exactly_the_projects_dependencies():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert sorted(requirement_lines(ROOT / "requirements.txt")) == sorted(dependencies)


def test_front_matter_runs_app_py_with_a_gradio_the_project_accepts():
    meta = front_matter()
    assert meta["sdk"] == "gradio" and (ROOT / meta["app_file"]).is_file()
    gradio = next(Requirement(line) for line in requirement_lines(ROOT / "requirements.txt")
                  if Requirement(line).name == "gradio")
    assert Version(meta["sdk_version"]) in gradio.specifier
    assert meta["python_version"]
