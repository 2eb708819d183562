"""Settings of the test project. Tests inject their verifier with ``COGNITO_GUARD_VERIFIER``."""

from __future__ import annotations

SECRET_KEY = "cognito-guard-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
ROOT_URLCONF = "tests.adapters.django_project.urls"
INSTALLED_APPS = [
    "rest_framework",
    "cognito_guard.integrations.django.CognitoGuardConfig",
]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "cognito_guard.integrations.django.CognitoMiddleware",
]
DATABASES: dict[str, object] = {}
USE_TZ = True
# A syntactically valid pool, so that the project starts; tests replace the verifier.
COGNITO_GUARD = {
    "USER_POOL_ID": "us-east-1_LocalPool1",
    "CLIENT_ID": "local0client0id0123456789a",
    "TOKEN_USE": "access",
    "JWKS_URI": None,
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cognito_guard.integrations.django_rest.CognitoAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "cognito_guard.integrations.django_rest.exception_handler",
}
