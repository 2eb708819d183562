"""A minimal Django project for the Django adapter's tests (sync, async and DRF reference apps)."""

from __future__ import annotations


def setup() -> None:
    """Configure Django with :mod:`.settings` once per process; a no-op when already done.

    Only the Django tests call it, so the other frameworks' tests never see Django configured.
    """
    import django
    from django.conf import settings

    from . import settings as project_settings

    if not settings.configured:
        settings.configure(
            **{
                name: getattr(project_settings, name)
                for name in dir(project_settings)
                if name.isupper()
            }
        )
        django.setup()
