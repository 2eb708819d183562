"""The Flask and Starlette adapters are packages; every import path they had keeps working.

``cognito_guard.integrations.flask_sessions`` and ``...starlette_sessions`` are kept as aliases of
the packages' ``sessions`` modules: the same objects, no warning (filterwarnings=error).
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

from cognito_guard.integrations import flask, flask_sessions, starlette, starlette_sessions
from cognito_guard.integrations.flask import sessions as flask_glue
from cognito_guard.integrations.starlette import sessions as starlette_glue

FLASK_NAMES = [
    "CognitoBadRequest",
    "CognitoForbidden",
    "CognitoGuard",
    "CognitoHTTPException",
    "CognitoServerError",
    "CognitoUnauthorized",
    "CognitoUnavailable",
    "CognitoUsageError",
    "aget_cognito_user",
    "current_cognito_user",
    "get_cognito_user",
    "require_auth",
    "require_group",
    "require_scope",
]
STARLETTE_NAMES = [
    "SCHEME_NAME",
    "CognitoAuthBackend",
    "CognitoAuthenticationError",
    "CognitoGuard",
    "CognitoHTTPException",
    "CognitoUser",
    "answer_response",
    "cognito_exception_handler",
    "cognito_user",
    "cognito_user_optional",
    "guard_of",
    "on_auth_error",
    "require_group",
    "require_scope",
    "requires",
]


@pytest.mark.parametrize(
    ("module", "names"), [(flask, FLASK_NAMES), (starlette, STARLETTE_NAMES)], ids=str
)
def test_the_package_exports_what_the_module_did(module: ModuleType, names: list[str]) -> None:
    assert sorted(module.__all__) == sorted(names)
    for name in names:
        assert getattr(module, name) is not None


@pytest.mark.parametrize(
    ("alias", "module"),
    [(flask_sessions, flask_glue), (starlette_sessions, starlette_glue)],
    ids=["flask_sessions", "starlette_sessions"],
)
def test_the_sessions_alias_modules_hold_the_same_objects(
    alias: ModuleType, module: ModuleType
) -> None:
    names = alias.__all__
    assert names == module.__all__
    for name in names:
        assert getattr(alias, name) is getattr(module, name)
    assert "kept as an alias" in (alias.__doc__ or "")


def test_the_flask_extension_key_is_still_importable() -> None:
    assert importlib.import_module("cognito_guard.integrations.flask").EXTENSION_KEY == (
        "cognito_guard"
    )
