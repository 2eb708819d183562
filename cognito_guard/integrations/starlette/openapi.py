"""FastAPI's OpenAPI document, made to say what the guard does: scopes, optional tokens, errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._compat import dependency_calls, every_route
from .dependencies import SCHEME_NAME, _Dependency, _fastapi_scheme, _Required

__all__ = ["document_in_openapi"]

_ERROR_SCHEMA = "CognitoError"
_RESPONSES = {
    "400": ("The Authorization header is malformed", "WWW-Authenticate"),
    "401": ("No bearer token, or an invalid one", "WWW-Authenticate"),
    "403": ("The token lacks a required scope or group", "WWW-Authenticate"),
    "503": ("The token signing keys cannot be fetched; try again later", "Retry-After"),
}


def _guarded_operations(app: Any) -> Iterator[tuple[Any, bool, list[str], bool]]:
    """(route, required, scopes, demands_groups) of each route using our dependencies."""
    for route in every_route(app.routes):
        deps = [call for call in dependency_calls(route) if isinstance(call, _Dependency)]
        if not deps:
            continue
        required = any(isinstance(call, _Required) for call in deps)
        scopes = list(dict.fromkeys(s for call in deps for s in call.requirement.scopes))
        groups = any(call.requirement.groups for call in deps)
        yield route, required, scopes, groups


def document_in_openapi(app: Any) -> None:
    """Make ``app.openapi()`` document the guard (FastAPI's documented way of extending it)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema: dict[str, Any] = generate()
        _document(app, schema)
        return schema

    app.openapi = openapi


def _document(app: Any, schema: dict[str, Any]) -> None:
    """Make the document say what the guard does (idempotent: FastAPI may hand back its cache).

    FastAPI lists one security requirement per security dependency, without the scopes of
    ``require_scope(...)`` and without telling an optional token from a required one; this puts
    one ``CognitoBearer`` requirement with every scope demanded, preceded by ``{}`` (no token is
    also accepted) for :data:`cognito_user_optional` alone, and the error answers.
    """
    paths = schema.get("paths", {})
    used = False
    for route, required, scopes, groups in _guarded_operations(app):
        for method in getattr(route, "methods", None) or ():
            operation = paths.get(getattr(route, "path_format", None), {}).get(method.lower())
            if not isinstance(operation, dict):
                continue
            used = True
            security = operation.get("security", [])
            ours = [entry for entry in security if SCHEME_NAME in entry]
            others = [entry for entry in security if entry and SCHEME_NAME not in entry]
            demanded = list(dict.fromkeys([*(s for e in ours for s in e[SCHEME_NAME]), *scopes]))
            operation["security"] = [
                *([] if required else [{}]),
                {SCHEME_NAME: demanded},
                *others,
            ]
            responses = operation.setdefault("responses", {})
            for status, (description, header) in _RESPONSES.items():
                if status == "403" and not (required or demanded or groups):
                    continue  # an optional token with no scope to lack: never a 403
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "headers": {header: {"schema": {"type": "string"}}},
                        "content": {
                            "application/json": {
                                "schema": {"$ref": f"#/components/schemas/{_ERROR_SCHEMA}"}
                            }
                        },
                    },
                )
    if used:
        scheme = _fastapi_scheme()
        if scheme is not None:
            # FastAPI lists it itself when it unwraps the dependencies to the scheme; this keeps
            # the requirement above pointing at a defined scheme whatever FastAPI did.
            from fastapi.encoders import jsonable_encoder

            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            if SCHEME_NAME not in schemes:
                schemes[SCHEME_NAME] = jsonable_encoder(
                    scheme.model, by_alias=True, exclude_none=True
                )
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault(
            _ERROR_SCHEMA,
            {
                "title": _ERROR_SCHEMA,
                "type": "object",
                "description": "The RFC 6750 error answer of a rejected request.",
                "properties": {
                    "error": {
                        "type": "string",
                        "description": "invalid_request, unauthorized, invalid_token, "
                        "insufficient_scope or temporarily_unavailable",
                    },
                    "error_description": {"type": "string"},
                },
                "required": ["error", "error_description"],
            },
        )
