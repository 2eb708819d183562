"""Settings of the test project. Tests inject their verifier with ``COGNITO_GUARD_VERIFIER``.

The database is a SQLite file in a temporary directory (the users tests need one that several
threads share), or the PostgreSQL database of ``DATABASE_URL``
(``postgres://user:password@host:port/name``, the tox env ``django-postgres``). Only the tests of
users in the database (``test_django_users.py``) create its tables; the others never query it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from urllib.parse import unquote, urlsplit

import django


def _database() -> dict[str, object]:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        parts = urlsplit(url)
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parts.path.lstrip("/") or "postgres",
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
        }
    if url:
        raise ValueError("DATABASE_URL must be a postgres:// URL (or unset, for SQLite)")
    directory = tempfile.mkdtemp(prefix="cognito-guard-django-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    # IMMEDIATE transactions take SQLite's write lock up front, so that concurrent writers wait
    # for each other (busy timeout) instead of failing with "database is locked" (Django 5.1+).
    options: dict[str, object] = {"timeout": 20}
    if django.VERSION >= (5, 1):
        options["transaction_mode"] = "IMMEDIATE"
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(directory, "db.sqlite3"),
        "TEST": {"NAME": os.path.join(directory, "test.sqlite3")},
        "OPTIONS": options,
    }


SECRET_KEY = "cognito-guard-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
ROOT_URLCONF = "tests.adapters.django_project.urls"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "cognito_guard.integrations.django",
    "tests.adapters.django_project.shop",
]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "cognito_guard.integrations.django.CognitoMiddleware",
]
# The users tests add SessionMiddleware, AuthenticationMiddleware and MessageMiddleware (and
# CognitoBackend); the other tests run the adapter exactly as a project without them would.
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410"]
DATABASES = {"default": _database()}
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test logins
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
