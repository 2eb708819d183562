"""Settings of the example project: an API protected by Cognito tokens.

There is no ``COGNITO_GUARD`` dict here on purpose: the adapter then reads the environment,

    COGNITO_USER_POOL_ID=eu-west-1_AbCdEf123   (required)
    COGNITO_CLIENT_ID=4a1b...                  (required)
    COGNITO_TOKEN_USE=access                   (access, id or any; default access)
    COGNITO_JWKS_URI=...                       (optional override of the pool's JWKS URL)
    COGNITO_REVOCATIONS_URL=redis://...        (optional: refuse revoked tokens, fleet-wide)

and refuses to start without them (``python manage.py check`` names what is missing).

Users in the database are on (``CognitoBackend``): each user token is linked to a row of
``auth.User``, created on the user's first request, and ``Order`` rows are owned by it. The
database is SQLite, at ``DJANGO_DB_PATH`` or in a fresh temporary directory per process; the WSGI
and ASGI entry points run the migrations at start-up, so the example needs no set-up step.
With ``COGNITO_SIGN_IN_DOMAIN`` set (and the other ``COGNITO_SIGN_IN_*`` variables of
:mod:`cognito_guard.sessions.settings`), the same settings go into ``COGNITO_GUARD`` with
``"SIGN_IN": "sign_in.web_sign_in"``: web sign-in under ``/auth/`` and a page at ``/account``
(on plain ``http://127.0.0.1`` add ``COGNITO_SIGN_IN_INSECURE_DEV_COOKIES=1``, for development
only: browsers refuse the ``Secure``, ``__Host-`` session cookie on plain http), and the Django
admin at ``/admin/``, for the members of Cognito's ``admins`` group.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
ROOT_URLCONF = "urls"
WSGI_APPLICATION = "wsgi.application"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    # The system checks, and the CognitoIdentity model that links tokens to users.
    "cognito_guard.integrations.django",
    "orders",
]
# CognitoBackend turns the mapping on: request.user is the linked auth.User row.
AUTHENTICATION_BACKENDS = ["cognito_guard.integrations.django.CognitoBackend"]
# An API authenticated by bearer tokens only: no sessions, no cookies, hence no CSRF middleware.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "cognito_guard.integrations.django.CognitoMiddleware",
]


def _database_path() -> str:
    path = os.environ.get("DJANGO_DB_PATH")
    if path:
        return path
    directory = tempfile.mkdtemp(prefix="cognito-guard-example-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return os.path.join(directory, "db.sqlite3")


DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _database_path(),
        "OPTIONS": {"timeout": 20},
    }
}
if os.environ.get("COGNITO_SIGN_IN_DOMAIN"):
    COGNITO_GUARD = {
        name: os.environ["COGNITO_" + name]
        for name in ("USER_POOL_ID", "CLIENT_ID", "TOKEN_USE", "JWKS_URI", "REVOCATIONS_URL")
        if os.environ.get("COGNITO_" + name)
    }
    COGNITO_GUARD["SIGN_IN"] = "sign_in.web_sign_in"
    # The admin is a staff site signing in through Cognito (docs/django-admin.md): Cognito's
    # "admins" group decides who is staff and superuser.
    COGNITO_GUARD["STAFF_GROUPS"] = ["admins"]
    COGNITO_GUARD["SUPERUSER_GROUPS"] = ["admins"]
    INSTALLED_APPS += [
        "django.contrib.admin",
        "django.contrib.sessions",
        "django.contrib.messages",
    ]
    # Django's CSRF protection for the admin's forms: a form posted with the session cookie and
    # its csrfmiddlewaretoken passes; the API views are csrf_exempt (bearer tokens, X-CSRF: 1).
    MIDDLEWARE = [
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "cognito_guard.integrations.django.CognitoMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ]
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
    STATIC_URL = "static/"
USE_TZ = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"cognito_guard": {"handlers": ["console"], "level": "INFO"}},
}
