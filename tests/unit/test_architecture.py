"""The package's shape: no import circle, the layers of docs/architecture.md, modules of a size
that can be read.

Imports are read from the source with ``ast``: every import statement anywhere in a module
counts (at the top, inside a function, under ``if TYPE_CHECKING:``), relative imports are
resolved, and ``from package import module`` counts as an import of that module (not of the
package's other names). Importing a submodule runs its package's ``__init__`` too, but every
package re-exports its modules, so that implicit step is not counted: it would make every package
a circle with its own modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cognito_guard

ROOT = Path(cognito_guard.__file__).parent
PACKAGE = "cognito_guard"
MAX_LINES = 600

# The outer layers: everything else is the core, which any of them may use and none of which
# may use them.
OUTER = ("cognito_guard.integrations", "cognito_guard.testing", "cognito_guard.cli")
OUTER_MODULES = ("cognito_guard.demo",)
WEB_FRAMEWORKS = ("django", "flask", "starlette", "fastapi", "werkzeug", "rest_framework")

# The core's layers, lowest first (the boxes of the diagram in docs/architecture.md): a module
# imports modules of its own layer or of the layers below, never above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cognito_guard.errors",),
    (  # plumbing
        "cognito_guard._redis",
        "cognito_guard._encryption",
        "cognito_guard._http",
        "cognito_guard._sansio",
        "cognito_guard._singleflight",
        "cognito_guard._telemetry",
        "cognito_guard._values",
        "cognito_guard._version",
    ),
    (  # the parts of a verification
        "cognito_guard.keys",
        "cognito_guard._jwks",
        "cognito_guard._hydration",
        "cognito_guard._jws",
        "cognito_guard.issuers",
        "cognito_guard.claims",
        "cognito_guard._audience",
        "cognito_guard.revocation",
    ),
    ("cognito_guard.verifier",),
    (  # the token lifecycle
        "cognito_guard.client",
        "cognito_guard.auth",
        "cognito_guard._oauth",
        "cognito_guard.m2m_cache",
        "cognito_guard.token_cache",
        "cognito_guard.pkce",
    ),
    (  # a request
        "cognito_guard.bearer",
        "cognito_guard.rules",
        "cognito_guard.config",
        "cognito_guard.resource",
        "cognito_guard.sessions",
        "cognito_guard.readiness",  # reads the key stores, the revocation list, the sessions
    ),
)


@dataclass(frozen=True)
class Import:
    """One imported module, where, and how."""

    target: str  # a module of cognito_guard, or the top-level name of another distribution
    line: int
    module_level: bool  # at the top of the module, not in a function or class body
    type_checking: bool  # under ``if TYPE_CHECKING:``


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool


def _modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        name = ".".join(parts)
        found[name] = Module(name, path, is_package)
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _ours(dotted: str) -> str:
    """The innermost module of cognito_guard that ``dotted`` names or lies in."""
    while dotted not in MODULES:
        dotted = dotted.rpartition(".")[0]
    return dotted


def _targets(module: Module, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            top = alias.name.partition(".")[0]
            yield _ours(alias.name) if top == PACKAGE else top
        return
    if node.level:
        package = module.name if module.is_package else module.name.rpartition(".")[0]
        base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    if source.partition(".")[0] != PACKAGE:
        yield source.partition(".")[0]
        return
    submodules = [f"{source}.{alias.name}" for alias in node.names]
    named = [name for name in submodules if name in MODULES]
    if len(named) < len(submodules) or source not in MODULES:
        yield _ours(source)  # some imported name is not a module: it comes from ``source``
    yield from named


def _walk(
    module: Module, node: ast.AST, module_level: bool, type_checking: bool
) -> Iterator[Import]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            for target in _targets(module, child):
                yield Import(target, child.lineno, module_level, type_checking)
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for branch in child.body:
                yield from _walk(module, ast.Module([branch], []), module_level, True)
            for branch in child.orelse:
                yield from _walk(module, ast.Module([branch], []), module_level, type_checking)
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            yield from _walk(module, child, False, type_checking)
        else:
            yield from _walk(module, child, module_level, type_checking)


def _imports(module: Module) -> list[Import]:
    tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
    return [found for found in _walk(module, tree, True, False) if found.target != module.name]


IMPORTS = {name: _imports(module) for name, module in MODULES.items()}
GRAPH = {name: {i.target for i in found if i.target in MODULES} for name, found in IMPORTS.items()}


def _in(name: str, *prefixes: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _is_core(name: str) -> bool:
    return not _in(name, *OUTER, *OUTER_MODULES)


def _where(name: str, found: Import) -> str:
    return f"{MODULES[name].path.relative_to(ROOT.parent)}:{found.line} imports {found.target}"


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each as a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for target in sorted(graph[name]):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in on_stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == name:
                    break
            if len(component) > 1:
                found.append(_one_circle(graph, set(component)))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def _one_circle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A path from the component's first module back to itself, to name in a failure."""
    start = min(component)
    paths = {start: [start]}
    todo = [start]
    while todo:
        name = todo.pop(0)
        for target in sorted(graph[name] & component):
            if target == start:
                return [*paths[name], start]
            if target not in paths:
                paths[target] = [*paths[name], target]
                todo.append(target)
    raise AssertionError("a strongly connected component always has a circle")


def _reach(start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(GRAPH[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(GRAPH[name])
    return seen


def test_the_reader_sees_every_kind_of_import() -> None:
    # The rules below are only as good as the reading: check it on known imports of each kind.
    verifier = {i.target: i for i in IMPORTS["cognito_guard.verifier"]}
    assert verifier["cognito_guard._telemetry"].module_level  # ``from . import _telemetry``
    assert "cognito_guard" not in verifier  # ... is an import of the module, not the package
    redis_imports = [i for i in IMPORTS["cognito_guard.m2m_cache"] if i.target == "redis"]
    assert redis_imports and all(i.type_checking for i in redis_imports)
    connection = [i for i in IMPORTS["cognito_guard._redis.connection"] if i.target == "redis"]
    assert any(not i.module_level and not i.type_checking for i in connection)
    assert "cognito_guard.sessions.web" in GRAPH["cognito_guard.sessions"]  # ``from .web import``


def test_no_import_circle() -> None:
    circles = _circles(GRAPH)
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_the_circle_finder_finds_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c", "a"]]


def test_errors_imports_nothing_of_ours() -> None:
    ours = [i for i in IMPORTS["cognito_guard.errors"] if i.target in MODULES]
    assert not ours, [_where("cognito_guard.errors", i) for i in ours]


def test_the_test_issuer_s_key_minting_and_token_building_reach_no_server() -> None:
    # LocalIssuer mints and signs without a socket; only serve() and serve_oauth() start one.
    from cognito_guard.testing import LocalIssuer

    minting = {LocalIssuer.sign.__module__, LocalIssuer.rotate.__module__}
    reached = set().union(*(_reach(name) for name in minting))
    servers = {f"cognito_guard.testing.{name}" for name in ("server", "oauth", "issuer")}
    assert minting.isdisjoint(servers)
    assert reached.isdisjoint(servers), sorted(reached & servers)


def test_redis_plumbing_uses_nothing_of_ours_but_errors_and_value_checks() -> None:
    allowed = ("cognito_guard._redis", "cognito_guard.errors", "cognito_guard._values")
    wrong = [
        _where(name, i)
        for name, found in IMPORTS.items()
        if _in(name, "cognito_guard._redis")
        for i in found
        if i.target in MODULES and not _in(i.target, *allowed)
    ]
    assert not wrong, wrong


def test_value_checks_use_nothing_of_ours_but_errors() -> None:
    ours = [i for i in IMPORTS["cognito_guard._values"] if i.target in MODULES]
    assert [i.target for i in ours] == ["cognito_guard.errors"], ours


def test_the_core_never_imports_the_outer_layers() -> None:
    wrong = [
        _where(name, i)
        for name, found in IMPORTS.items()
        if _is_core(name)
        for i in found
        if i.target in MODULES and not _is_core(i.target)
    ]
    assert not wrong, wrong


def test_the_testing_package_imports_no_adapter_and_no_command() -> None:
    # Users import it in their own tests, whatever their framework.
    wrong = [
        _where(name, i)
        for name, found in IMPORTS.items()
        if _in(name, "cognito_guard.testing")
        for i in found
        if _in(i.target, "cognito_guard.integrations", "cognito_guard.cli", *OUTER_MODULES)
    ]
    assert not wrong, wrong


def test_the_core_imports_no_web_framework() -> None:
    wrong = [
        _where(name, i)
        for name, found in IMPORTS.items()
        if _is_core(name)
        for i in found
        if i.target in WEB_FRAMEWORKS
    ]
    assert not wrong, wrong


def test_redis_and_mcp_are_imported_only_where_they_are_used() -> None:
    # At run time the core imports redis only in _redis (elsewhere only for type annotations),
    # mcp only in its adapter; and no module imports either at import time: only when a class
    # that needs it is constructed, so that neither is needed to import cognito_guard.
    wrong = []
    for name, found in IMPORTS.items():
        for i in found:
            outside_redis = _is_core(name) and not _in(name, "cognito_guard._redis")
            if i.target == "redis" and not i.type_checking and (i.module_level or outside_redis):
                wrong.append(_where(name, i))
            if i.target == "mcp" and (
                name != "cognito_guard.integrations.mcp" or (i.module_level and not i.type_checking)
            ):
                wrong.append(_where(name, i))
    assert not wrong, wrong


def _layer(name: str) -> int | None:
    """The layer of a core module (the boxes of docs/architecture.md); None when unplaced."""
    for rank, prefixes in enumerate(LAYERS):
        if _in(name, *prefixes):
            return rank
    return None


def test_every_core_module_has_its_layer() -> None:
    unplaced = sorted(n for n in MODULES if _is_core(n) and n != PACKAGE and _layer(n) is None)
    assert not unplaced, (
        f"place {unplaced} in LAYERS (tests/unit/test_architecture.py) and in the diagram and "
        "package map of docs/architecture.md"
    )


def test_each_layer_imports_only_its_own_and_the_layers_below() -> None:
    # integrations -> sessions / bearer -> client -> verifier -> keys / claims / revocation ->
    # _redis and the other plumbing -> errors: never upwards.
    wrong = []
    for name, found in IMPORTS.items():
        rank = _layer(name)
        if rank is None:
            continue
        for i in found:
            target = _layer(i.target) if i.target in MODULES else None
            if target is not None and target > rank:
                wrong.append(f"{_where(name, i)} (layer {rank} imports layer {target})")
    assert not wrong, wrong


def test_the_verifier_reaches_no_request_or_token_client_code() -> None:
    # The same rule seen from one module, with every import it makes directly or not.
    above = ("cognito_guard.bearer", "cognito_guard.sessions", "cognito_guard.client")
    wrong = sorted(name for name in _reach("cognito_guard.verifier") if _in(name, *above))
    assert not wrong, wrong


def test_no_module_is_too_long_to_read() -> None:
    lengths = {
        name: len(module.path.read_text(encoding="utf-8").splitlines())
        for name, module in MODULES.items()
    }
    long = {name: lines for name, lines in lengths.items() if lines > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
