"""The Django package's shape: no import circle, the alias modules, import before the registry."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from .django_project import setup

setup()

from django.apps import apps  # noqa: E402
from django.utils.module_loading import import_string  # noqa: E402
from rest_framework.settings import api_settings  # noqa: E402

import cognito_guard.integrations.django as package  # noqa: E402
from cognito_guard.integrations import django_rest, django_sessions  # noqa: E402
from cognito_guard.integrations.django import rest, sessions  # noqa: E402
from cognito_guard.integrations.django.apps import CognitoUsersConfig  # noqa: E402

PACKAGE = Path(package.__file__).parent
NAME = package.__name__


def _imports(path: Path, module: str) -> set[str]:
    # Every import of the file, at any depth: function-level and TYPE_CHECKING imports included.
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = base[: len(base) - node.level + 1] if node.level else []
            target = ".".join(parts + ([node.module] if node.module else []))
            found.update(f"{target}.{alias.name}" for alias in node.names)
            found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {
        (NAME if path.name == "__init__.py" else f"{NAME}.{path.stem}"): path
        for path in PACKAGE.glob("*.py")
    }
    return {
        module: {name for name in _imports(path, module) if name in modules and name != module}
        for module, path in modules.items()
    }


def test_the_django_package_has_no_import_circle() -> None:
    graph = _graph()
    assert f"{NAME}.users" in graph and f"{NAME}.backends" in graph

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for name in graph[start] - seen:
            seen.add(name)
            if name == goal or reaches(name, goal, seen):
                return True
        return False

    circles = sorted(module for module in graph if reaches(module, module, set()))
    assert circles == [], f"modules on an import circle: {circles}"


def test_the_alias_modules_hand_out_the_package_modules_objects() -> None:
    for alias, module in ((django_rest, rest), (django_sessions, sessions)):
        assert alias.__all__ == module.__all__
        for name in module.__all__:
            assert getattr(alias, name) is getattr(module, name), name


def test_drf_settings_strings_keep_naming_the_alias_path() -> None:
    path = "cognito_guard.integrations.django_rest.CognitoAuthentication"
    assert import_string(path) is rest.CognitoAuthentication
    # The test project's REST_FRAMEWORK names the alias path, as projects' settings do.
    assert list(api_settings.DEFAULT_AUTHENTICATION_CLASSES) == [rest.CognitoAuthentication]
    assert api_settings.EXCEPTION_HANDLER is rest.exception_handler


def test_every_public_name_is_importable_from_the_package() -> None:
    for name in package.__all__:
        assert getattr(package, name) is not None, name


def test_the_view_decorators_are_flasks_own_definition() -> None:
    # One definition of require_auth / require_scope / require_group for both frameworks:
    # each adapter supplies only how its framework protects a view.
    from cognito_guard.integrations import flask

    for name in ("require_auth", "require_scope", "require_group"):
        ours, flasks = getattr(package, name), getattr(flask, name)
        assert ours.__func__ is flasks.__func__, name
        assert ours.__self__ is not flasks.__self__  # each bound to its framework's protect


def test_the_full_apps_entry_gets_the_users_config() -> None:
    assert type(apps.get_app_config("cognito_guard")) is CognitoUsersConfig


IMPORT_BEFORE_SETTINGS = """
import sys
import cognito_guard.integrations.django
import cognito_guard.integrations.django_rest
import cognito_guard.integrations.django_sessions
for module in ("models", "backends"):
    for name in (f"cognito_guard.integrations.django.{module}", f"django.contrib.auth.{module}"):
        assert name not in sys.modules, name
"""


def test_importing_the_package_needs_neither_settings_nor_the_app_registry() -> None:
    # Django imports the package as an app before its registry is ready: a model or the
    # backend (ModelBackend reads the user model) imported then raises AppRegistryNotReady.
    result = subprocess.run(  # noqa: S603 - this file's own script
        [sys.executable, "-c", IMPORT_BEFORE_SETTINGS],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
