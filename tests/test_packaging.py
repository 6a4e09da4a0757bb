"""seglab as a real package: pyproject's dependencies are requirements.txt's; the wheel built from the tree
holds every module and installs `import seglab` and the `seglab` console script, which work from any folder; the
README (the package's description) shows the web API's outputs as the endpoint returns them."""
from __future__ import annotations

import email
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from PIL import Image

from seglab.registry import ADAPTERS

ROOT = Path(__file__).resolve().parents[1]


def requirements(lines: list[str]) -> dict[str, tuple[str, str, str]]:
    """name -> (specifiers, extras, marker) of requirement strings; comments and blank lines ignored."""
    out = {}
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            req = Requirement(text)
            name = canonicalize_name(req.name)
            assert name not in out, f"{req.name} is listed twice"
            out[name] = (str(req.specifier), ",".join(sorted(req.extras)), str(req.marker or ""))
    return out


def test_pyproject_dependencies_are_requirements_txt():
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["build-system"]["build-backend"] == "setuptools.build_meta"
    declared = requirements(project["project"]["dependencies"])
    assert declared == requirements((ROOT / "requirements.txt").read_text().splitlines())


def test_requirements_parser_reads_bounds_and_skips_comments():
    parsed = requirements(["# a comment", "", "opencv-python-headless>=4.10,<5  # why", "Huggingface_Hub>=0.30"])
    assert parsed == {"opencv-python-headless": ("<5,>=4.10", "", ""), "huggingface-hub": (">=0.30", "", "")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of a copy of the tree (the build's scratch folders stay out of the checkout)."""
    tree = tmp_path_factory.mktemp("tree")
    shutil.copytree(ROOT / "seglab", tree / "seglab", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(tree),
                    "-w", str(out)], check=True, capture_output=True, timeout=300)
    return next(out.glob("seglab-*.whl"))


def test_the_wheel_holds_every_module_the_metadata_and_the_script(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(z.read(info))
        scripts = z.read(info.replace("METADATA", "entry_points.txt")).decode()
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "seglab").rglob("*.py")}
    assert modules <= names, f"missing from the wheel: {sorted(modules - names)}"
    assert {m.partition(":")[0].replace(".", "/") + ".py" for m in ADAPTERS.values()} <= names
    assert not {n for n in names if n.split("/")[0] in ("tests", "ui", "benchmarks", "app.py")}
    assert requirements(metadata.get_all("Requires-Dist")) == requirements(
        (ROOT / "requirements.txt").read_text().splitlines())
    assert "seglab = seglab.cli:main" in scripts


def test_the_installed_package_and_script_work_from_any_folder(wheel, tmp_path):
    target, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1"}
    where = subprocess.run([sys.executable, "-c", "import seglab; print(seglab.__file__)"], cwd=elsewhere, env=env,
                           capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert Path(where).is_relative_to(target)  # the installed copy, not the checkout
    for command in ([str(target / "bin" / "seglab")], [sys.executable, "-m", "seglab"]):
        r = subprocess.run([*command, "models", "--task", "depth", "--json"], cwd=elsewhere, env=env,
                           capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 0, r.stderr
        assert {m["task"] for m in json.loads(r.stdout)} == {"depth"}


def test_the_readme_web_api_example_names_what_segment_returns(tmp_path, monkeypatch):
    pytest.importorskip("gradio_client")
    from web import served

    from ui import build_demo

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Web app API"):]
    start = section.index("```python\n") + len("```python\n")
    example = section[start:section.index("```", start)]
    monkeypatch.chdir(ROOT)  # the example's image path is the checkout's examples/
    with served(build_demo(results_dir=tmp_path)) as url:
        names: dict = {}  # what the README's own code, run as written against this app, leaves
        exec(example.replace('"http://127.0.0.1:7860/"', repr(url)), names)  # noqa: S102
    assert Image.open(names["view"]).format == "JPEG"
    assert json.loads(names["prompt"]) == {"boxes": [[8.0, 55.0, 330.0, 305.0]]}
    assert {"choices", "value", "visible"} <= set(names["picks"])  # a radio update, not masks
    assert names["downloads"] is None and "embedded-u2netp-grabcut" in names["status"]
    assert {Path(f).name for f in names["files"]} >= {"segment.json", "segment_mask.png"}
