"""ASGI entry point: ``uvicorn asgi:application`` (from here); tokens are verified with averify."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application
from django.core.management import call_command

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

application = get_asgi_application()

# After the application (which refuses bad Cognito settings), before the first request.
call_command("migrate", interactive=False, verbosity=0)
