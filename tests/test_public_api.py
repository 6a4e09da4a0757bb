"""The boundary between seglab and its users: the app, the CLI and the benchmark import seglab's public API
only (the top level and the submodules its docstring names), and seglab imports none of them."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import seglab

ROOT = Path(__file__).resolve().parents[1]
USERS = [ROOT / "app.py", ROOT / "seglab" / "cli.py", *sorted((ROOT / "ui").rglob("*.py")),
         *sorted((ROOT / "benchmarks").rglob("*.py"))]


def imported_modules(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path`` (or ``source`` as if it were there),
    relative imports resolved."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(ast.parse(source if source is not None else path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            out.append((node.lineno, module))
            out += [(node.lineno, f"{module}.{alias.name}") for alias in node.names
                    if f"{module}.{alias.name}" in _SUBMODULES]  # `from seglab import models` is an import too
    return out


_SUBMODULES = {f"seglab.{p.stem}" for p in (ROOT / "seglab").glob("*.py")} | {
    f"seglab.{p.name}" for p in (ROOT / "seglab").iterdir() if (p / "__init__.py").exists()}


def is_public(module: str) -> bool:
    if module == "seglab":
        return True
    top = ".".join(module.split(".")[:2])
    return top in {f"seglab.{name}" for name in seglab.PUBLIC_MODULES}


def test_public_modules_exist_and_are_named_in_the_docstring():
    for name in seglab.PUBLIC_MODULES:
        assert f"seglab.{name}" in _SUBMODULES, name
        assert f"seglab.{name}" in seglab.__doc__, f"seglab's docstring does not name seglab.{name}"
    assert "seglab.models" not in {f"seglab.{n}" for n in seglab.PUBLIC_MODULES}


@pytest.mark.parametrize("path", USERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_users_import_only_the_public_api(path: Path):
    private = [f"line {line}: {m}" for line, m in imported_modules(path)
               if (m == "seglab" or m.startswith("seglab.")) and not is_public(m)]
    assert not private, f"{path.relative_to(ROOT)} imports private seglab modules: {private}"


def test_seglab_imports_no_app_or_benchmark_code():
    bad = []
    for path in sorted((ROOT / "seglab").rglob("*.py")):
        for line, m in imported_modules(path):
            if m.split(".")[0] in ("gradio", "gradio_client", "ui", "benchmarks", "app"):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {m}")
    assert not bad, bad


def test_the_checker_sees_private_and_relative_imports():
    """The walker itself: a private import written four ways is caught, public ones are not."""
    source = ("import seglab.models.sam\nfrom seglab.models import sam\nfrom seglab import models, Prompt\n"
              "from seglab.metrics import mask_iou\nfrom .loading import predict\n")
    found = [m for _, m in imported_modules(ROOT / "seglab" / "probe.py", source) if not is_public(m)]
    assert found == ["seglab.models.sam", "seglab.models", "seglab.models", "seglab.loading"]
