"""The package's layout holds: floors only import downwards, no import cycles, one paradigm table.

The floors of ``tessera_onnx`` (see docs/architecture.md), lowest first:

0. foundation: errors, the argument contract, warnings, version, the paradigm table, the cache location, the config base
1. core: artifact, locate, registry, session, backends, ops, quantization, index, batch_parallel
2. model: the model base and the ``Tessera`` factory
3. paradigms: one package each (text, vision, pages, timeseries, hyperbolic, ...)
4. around: serving, distributed, integrations, cli
5. the package facade (``tessera_onnx/__init__.py``)

Every ``import`` statement counts, at module level or inside a function, since a lazy import is
still a dependency. Imports by string (``importlib.import_module`` in the paradigm table) are
how a lower floor names an upper one without depending on it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "tessera_onnx"

FLOORS: dict[str, int] = {
    "errors": 0,
    "arguments": 0,
    "_warnings": 0,
    "_malloc": 0,
    "_version": 0,
    "paradigms": 0,
    "cache": 0,
    "config_base": 0,
    "artifact": 1,
    "locate": 1,
    "registry": 1,
    "session": 1,
    "backends": 1,
    "ops": 1,
    "quantization": 1,
    "index": 1,
    "batch_parallel": 1,
    "sparse_embedding": 1,
    "model": 2,
    "factory": 2,
    "text": 3,
    "vision": 3,
    "pages": 3,
    "timeseries": 3,
    "hyperbolic": 3,
    "cross_encoder": 3,
    "embedders": 3,  # deprecated aliases of the paradigm packages
    "serving": 4,
    "distributed": 4,
    "integrations": 4,
    "cli": 4,
    "__init__": 5,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of ``tessera_onnx`` that ``path`` imports (``from a import b`` → ``a.b`` if a module)."""
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                prefix = ".".join(anchor + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                full = f"{prefix}.{alias.name}"
                targets.append(full if full in known else prefix)
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target.startswith("tessera_onnx") and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def floor(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    if top not in FLOORS:
        raise AssertionError(
            f"{module} is in no floor: add its top-level name to FLOORS here and to docs/architecture.md"
        )
    return FLOORS[top]


def test_every_module_has_a_floor():
    for name in modules():
        floor(name)


def test_no_import_runs_upward():
    upward = [
        f"{src} (floor {floor(src)}) imports {dst} (floor {floor(dst)})"
        for src, targets in graph().items()
        for dst in targets
        if floor(dst) > floor(src)
    ]
    assert not upward, "imports from a lower floor to a higher one:\n" + "\n".join(upward)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
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
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    cycles = _cycles(graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_cycle_detector_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_runtime_never_imports_the_exporter():
    bad = [f"{src} -> {path}" for src, path in modules().items() if "tessera_export" in _imported_roots(path)]
    assert not bad, bad


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_version_is_written_once():
    from tessera_onnx import __version__
    from tessera_onnx._version import __version__ as source

    assert __version__ == source
    hits = [
        p.relative_to(ROOT).as_posix()
        for p in list(PACKAGE.rglob("*.py"))
        + list((ROOT / "export").rglob("*.py"))
        + [ROOT / "pyproject.toml"]
        if f'"{source}"' in p.read_text(encoding="utf-8")
    ]
    assert hits == ["tessera_onnx/_version.py"], hits


# ---------------------------------------------------------------------- the paradigm table


def test_every_consumer_reads_the_paradigm_table():
    """No paradigm list is written out anywhere but the table."""
    from tessera_onnx.paradigms import PARADIGMS

    names = sorted(PARADIGMS)
    literal = []
    for path in list(PACKAGE.rglob("*.py")) + list((ROOT / "export").rglob("*.py")):
        if path.name == "paradigms.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                values = {
                    e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
                }
                if len(values & set(names)) >= 3:
                    literal.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not literal, "paradigm lists outside tessera_onnx/paradigms.py:\n" + "\n".join(literal)


@pytest.mark.parametrize(
    "name", ["dense", "multi_vector", "sparse", "vision", "pages", "timeseries", "hyperbolic"]
)
def test_each_row_names_real_objects(name):
    from tessera_onnx.model import TesseraModel
    from tessera_onnx.paradigms import get_paradigm

    row = get_paradigm(name)
    cls = row.load_runtime()
    assert issubclass(cls, TesseraModel) and cls.paradigm == name
    for method in ("info", "__repr__"):
        assert callable(getattr(cls, method))
    assert isinstance(cls.dimension, property) and isinstance(cls.model_id, property)


def test_registry_and_manifest_validate_against_the_table():
    from tessera_onnx.artifact import PARADIGMS as MANIFEST_PARADIGMS
    from tessera_onnx.paradigms import PARADIGMS
    from tessera_onnx.registry import list_models

    assert tuple(MANIFEST_PARADIGMS) == tuple(PARADIGMS)
    for name in PARADIGMS:
        list_models(name)  # every paradigm is a valid filter (pages was rejected once)
    assert list_models("pages"), "models.json lists page-retrieval models"


@pytest.mark.parametrize(
    "name", ["dense", "multi_vector", "sparse", "vision", "pages", "timeseries", "hyperbolic"]
)
def test_unknown_options_name_the_class_and_what_it_takes(name, tmp_path):
    from tessera_onnx.errors import UnknownOptionError
    from tessera_onnx.paradigms import get_paradigm

    cls = get_paradigm(name).load_runtime()
    with pytest.raises(
        UnknownOptionError, match=rf"{cls.__name__}\(\) got unknown option\(s\) \['bogus'\].*verify"
    ):
        cls(tmp_path, bogus=1)
