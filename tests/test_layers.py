"""The code's layers run one way, bottom-up, and no modules import each other in a circle.

    foundation → records → formats → io → models → steps → engines → runner
               → train / evals / explore → recipe → api / cli

Every import counts, also one inside a function (a lazy import is still a dependency); only
imports under `if TYPE_CHECKING:` (annotations) do not. A module may import its own layer or
any layer below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "curate"

LAYERS = [
    ("foundation", ["curate.version", "curate.errors", "curate.user_cache", "curate.progress",
                    "curate.yaml_lines", "curate.fingerprint", "curate.workers", "curate.quiet",
                    "curate.process_memory"]),
    ("records", ["curate.records", "curate.ledger"]),
    ("formats", ["curate.formats"]),
    ("io", ["curate.io"]),
    ("models", ["curate.models"]),
    ("steps", ["curate.steps"]),
    ("engines", ["curate.engines"]),
    ("runner", ["curate.runner"]),
    ("train/evals/explore", ["curate.train", "curate.evals", "curate.explore"]),
    ("recipe", ["curate.recipe"]),
    ("api/cli", ["curate.api", "curate.cli", "curate"]),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def layer_of(module: str) -> int:
    best, index = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, index = len(prefix), i
    assert index is not None, f"{module} belongs to no layer: add it to LAYERS in {__file__}"
    return index


def _type_checking_only(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(module: str) -> set[str]:
    """The curate modules `module` imports (a `from pkg import name` of a submodule names the submodule)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "curate")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "curate":
                continue
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
            found.update(subs if len(subs) == len(node.names) else subs + [target])
    return {m for m in found if m in MODULES and m != module}


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_import_runs_down_the_layers():
    upward = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
              for m, targets in sorted(GRAPH.items()) for t in sorted(targets) if layer_of(t) > layer_of(m)]
    assert not upward, "imports that reach up a layer:\n  " + "\n  ".join(upward)


def test_no_import_circles():
    """Tarjan's strongly connected components: any component of more than one module is a circle."""
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not circles, "modules that import each other in a circle:\n  " + "\n  ".join(map(", ".join, circles))


def test_the_checker_sees_a_violation():
    """The two checks above can fail: an upward import and a circle are found where they exist."""
    assert "curate.steps.base" in GRAPH["curate.steps.filter.where"]          # relative import resolved
    assert "curate.steps.compose.bank" in GRAPH["curate.steps.compose.chain"]  # `from . import bank`
    assert layer_of("curate.io.spec") < layer_of("curate.steps.filter.references") < layer_of("curate.recipe")
    assert layer_of("curate.steps.filter.where") > layer_of("curate.models.embed")


def test_steps_are_found_by_their_registry_name():
    """`family.name` lives in `curate/steps/<family>/<name>.py`."""
    from curate.steps import REGISTRY
    misplaced = []
    for name, cls in sorted(REGISTRY.items()):
        family, _, short = name.partition(".")
        if cls.__module__ != f"curate.steps.{family}.{short}":
            misplaced.append(f"{name} is defined in {cls.__module__}")
    assert not misplaced, "\n".join(misplaced)


def test_the_ledger_schema_is_written_down_once():
    """Only `curate/ledger.py` spells out the ledger's columns."""
    spelled = [m for m, p in MODULES.items() if m != "curate.ledger"
               and '"reason": pl.Utf8' in p.read_text(encoding="utf-8")]
    assert not spelled, f"ledger columns spelled out outside curate/ledger.py: {spelled}"
