"""One place knows Redis, one place seals: the rest of the package goes through them.

``cognito_guard._redis`` is the only code that imports redis-py at run time (the others import it
for type hints only), so what counts as "Redis unavailable", the lock and the key names cannot
drift apart between features. ``cognito_guard._encryption`` is the only code that touches
Fernet, so every stored token is sealed to its entry the same way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import cognito_guard

PACKAGE = Path(cognito_guard.__file__).parent


def _runtime_imports(path: Path) -> set[str]:
    """The absolute imports of ``path`` outside ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def _importers(module: str) -> set[str]:
    """The files of the package that import ``module`` (or one of its submodules) at run time."""
    return {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        for name in _runtime_imports(path)
        if name == module or name.startswith(module + ".")
    }


def test_only_the_redis_package_imports_redis_py_at_run_time() -> None:
    assert {p for p in _importers("redis") if not p.startswith("_redis/")} == set()
    assert "_redis/connection.py" in _importers("redis")  # the scan sees what it looks for


def test_only_the_sealer_touches_fernet() -> None:
    assert _importers("cryptography.fernet") == {"_encryption.py"}
