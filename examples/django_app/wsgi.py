"""WSGI entry point: ``waitress-serve --listen=127.0.0.1:8000 wsgi:application`` (from here).

Building the application loads the middleware, which builds the verifier: missing or invalid
COGNITO_* settings stop the server here, before it accepts a request.
"""

from __future__ import annotations

import os

from django.core.management import call_command
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

application = get_wsgi_application()

# After the application (which refuses bad Cognito settings), before the first request.
call_command("migrate", interactive=False, verbosity=0)
