"""The import graph of `harness` and `baselines` (read with the standard library's ``ast``, every
import statement, at module level or inside functions): no cycles between modules, and the lower
layers (metrics, data, backbones, baselines) never import what is built on them (the runner, the
CLI and the command drivers)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "baselines", "bench")
LOWER = ("harness.metrics", "harness.data", "harness.backbones", "baselines")
UPPER = ("harness.runner", "harness.cli", "harness.build", "harness.validate", "harness.eval_command", "harness.refstats_command",
         "harness.pretrain_command", "harness.sweep", "harness.verify", "harness.analyze", "harness.report",
         "harness.tuning", "harness.backbones_command", "harness.weights_command", "harness.sample_command",
         "harness.config_files", "bench")
MAX_LINES = 350


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The known modules ``name`` imports (``from package import submodule`` counts as the submodule)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules, by depth-first search, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], _ = 1, stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node], _ = 2, stack.pop()
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def package_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Edges between modules that are not a package importing its own parts (a package's
    ``__init__`` re-exporting its submodules is how Python packages are built, not a cycle)."""
    return {a: {b for b in bs if not b.startswith(a + ".")} for a, bs in edges.items()}


def test_no_import_cycles() -> None:
    edges = package_edges(graph())
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_lower_layers_do_not_import_the_runner_cli_or_commands() -> None:
    bad = sorted(f"{a} imports {b}" for a, bs in graph().items() if within(a, LOWER) for b in bs if within(b, UPPER))
    assert not bad, "\n".join(bad)


def test_the_checker_finds_a_cycle_and_a_layer_violation() -> None:
    """The checks above can fail: a toy graph with a cycle and an upward import is caught."""
    toy = {"harness.metrics.a": {"harness.metrics.b"}, "harness.metrics.b": {"harness.runner"},
           "harness.runner": {"harness.metrics.a"}}
    assert find_cycle(toy) == ["harness.metrics.a", "harness.metrics.b", "harness.runner", "harness.metrics.a"]
    assert within("harness.metrics.b", LOWER) and within("harness.runner", UPPER)


def test_modules_stay_small() -> None:
    big = {name: n for name, path in modules().items() if name.startswith(("harness", "baselines"))
           and (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"
