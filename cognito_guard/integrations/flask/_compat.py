"""The Flask, werkzeug and asyncio internals the Flask integration relies on, in one place.

Each is named here with what it relies on; ``tests/adapters/test_compat_flask.py`` fails when a
release of the framework changes one of them under us.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, cast

from flask import Flask, current_app, g, request
from werkzeug.local import LocalProxy

if TYPE_CHECKING:
    from flask import Request

__all__ = [
    "AttributeProxy",
    "app_object",
    "flask_wtf_validated",
    "g_object",
    "request_object",
    "running_loop",
]

# werkzeug's LocalProxy._get_current_object (underscored, though Flask's documentation uses it):
# the object behind a proxy, fetched without the proxy's attribute lookup (~6 times the cost) and
# without a typing.cast() call per request, since these run on every request.
app_object: Callable[[], Flask] = cast("LocalProxy[Flask]", current_app)._get_current_object
g_object: Callable[[], Any] = cast("LocalProxy[Any]", g)._get_current_object
request_object: Callable[[], Request] = cast("LocalProxy[Request]", request)._get_current_object


class AttributeProxy(LocalProxy):  # type: ignore[type-arg]
    """A LocalProxy whose attribute reads, while the object behind it is None, go to the
    subclass's ``_no_object(name)`` (which raises) instead of an AttributeError of None.

    Relies on LocalProxy forwarding attribute reads through ``__getattr__`` (werkzeug defines
    it as a ``_ProxyLookup`` descriptor, which a subclass's method replaces) and keeping
    ``_get_current_object`` in a slot, which ``object.__getattribute__`` reads without going
    through the proxy.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        current = object.__getattribute__(self, "_get_current_object")()
        if current is None:
            type(self)._no_object(name)
        return getattr(current, name)

    @staticmethod
    def _no_object(name: str) -> NoReturn:
        raise AttributeError(name)


# asyncio._get_running_loop: the running event loop (an async view's) or None, without the
# RuntimeError that get_running_loop() raises (and costs) on every request of a sync view.
running_loop: Callable[[], asyncio.AbstractEventLoop | None] = asyncio._get_running_loop


def flask_wtf_validated() -> bool:
    """Whether Flask-WTF's ``CSRFProtect``, set up on the current app, validated the CSRF token
    of the current request.

    Relies on ``CSRFProtect.init_app`` registering the extension as ``app.extensions["csrf"]``,
    and on ``CSRFProtect.protect`` setting ``g.csrf_valid = True`` once the token (and, over
    https, the referrer) passed; a request that fails it gets Flask-WTF's 400 before any view
    runs, and an exempt view's request is not marked. The flag counts only with that extension
    on the app: set by anything else it proves nothing. Flask-WTF is looked up in
    ``sys.modules``, never imported: an app that set it up has imported it.
    """
    csrf = sys.modules.get("flask_wtf.csrf")
    if csrf is None or not isinstance(app_object().extensions.get("csrf"), csrf.CSRFProtect):
        return False
    return g_object().__dict__.get("csrf_valid") is True
