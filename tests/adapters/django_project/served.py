"""The test project as WSGI and ASGI applications for a real server in a subprocess.

Configured like a deployment, from ``COGNITO_*`` variables: ``COGNITO_GUARD`` holds the pool,
the client, the JWKS URL, the audience and the ``RESOURCE`` given there. Serve ``wsgi`` with
waitress or ``asgi`` with uvicorn (see ``cognito_guard.testing.process.AppProcess``).
"""

from __future__ import annotations

import os

import django
from django.conf import settings

from . import settings as project

_NAMES = ("USER_POOL_ID", "CLIENT_ID", "JWKS_URI", "AUDIENCE", "RESOURCE")

settings.configure(
    **{
        **{name: getattr(project, name) for name in dir(project) if name.isupper()},
        "COGNITO_GUARD": {
            name: os.environ["COGNITO_" + name]
            for name in _NAMES
            if os.environ.get("COGNITO_" + name)
        },
    }
)
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402 - after the settings
from django.core.wsgi import get_wsgi_application  # noqa: E402

wsgi = get_wsgi_application()
asgi = get_asgi_application()
