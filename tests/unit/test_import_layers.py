"""Imports point down: each layer imports only the layers below it (read from the source).

The foundation (bot/core) imports nothing of ours above it; the store and the GitHub edge
only the foundation; agents only the foundation and the sandbox; the worker nothing of the
composition (bot/app), the CLI, webhooks or proposals; proposals neither the worker loop nor
the composition. Every ``import`` counts, including those inside functions.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("bot", "proposals", "webhooks")

# Package -> the packages of ours it may import (itself included).
ALLOWED = {
    "bot.core": {"bot.core"},
    "bot.store": {"bot.core", "bot.store"},
    "bot.github": {"bot.core", "bot.github"},
    "bot.sandbox": {"bot.core", "bot.sandbox"},
    "bot.agents": {"bot.core", "bot.sandbox", "bot.agents"},
    "bot.observe": {"bot.core", "bot.store", "bot.github", "bot.observe"},
    "bot.worker": {
        "bot.core",
        "bot.store",
        "bot.github",
        "bot.sandbox",
        "bot.agents",
        "bot.observe",
        "bot.worker",
    },
    "proposals": {
        "bot.core",
        "bot.store",
        "bot.github",
        "bot.worker.leases",
        "bot.worker.outbox",  # running one outbox item (a job's own status edit), no loop
        "bot.worker.services",
        "proposals",
    },
}


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "bot" and len(parts) > 1 else parts[0]


def _imports(path: Path) -> set[str]:
    """The modules of ours ``path`` imports; ``from pkg import mod`` names ``pkg.mod``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                is_module = (ROOT / submodule.replace(".", "/")).with_suffix(".py").exists()
                found.add(submodule if is_module else node.module)
    # The bare top packages (``import bot`` to find its folder) hold no layer.
    return {name for name in found if name.split(".")[0] in OURS and name not in OURS}


def _allowed(target: str, allowed: set[str]) -> bool:
    return any(target == a or target.startswith(a + ".") for a in allowed)


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below_it(package: str) -> None:
    allowed = ALLOWED[package]
    wrong = []
    for path in _modules(package):
        for target in sorted(_imports(path)):
            if not _allowed(target, allowed):
                wrong.append(f"{path.relative_to(ROOT)} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from bot.worker import loop\n")
    assert _imports(module) == {"bot.worker.loop"}
    assert not _allowed("bot.worker.loop", ALLOWED["proposals"])
    assert _allowed("bot.worker.leases", ALLOWED["proposals"])
