"""The Flask, werkzeug and asyncio internals the Flask integration relies on (``_compat``).

Each test pins one reach: it fails when a release of the framework changes what the
integration uses, before any user's request does.
"""

from __future__ import annotations

import asyncio
from typing import NoReturn

import pytest
from flask import Flask, g, request
from werkzeug.local import LocalProxy

from cognito_guard.integrations.flask import _compat


def test_the_proxies_objects_are_read_through_get_current_object() -> None:
    assert "_get_current_object" in LocalProxy.__slots__
    app = Flask(__name__)
    with app.test_request_context("/orders?x=1", method="POST"):
        assert _compat.app_object() is app
        assert _compat.request_object() is request._get_current_object()  # type: ignore[attr-defined]
        assert _compat.request_object().path == "/orders"
        g.marker = "here"
        assert _compat.g_object().__dict__["marker"] == "here"  # the outcome is kept there


class Missing(Exception):
    pass


class NamedProxy(_compat.AttributeProxy):
    __slots__ = ()

    @staticmethod
    def _no_object(name: str) -> NoReturn:
        raise Missing(name)


def test_a_proxy_subclass_getattr_sees_every_attribute_read() -> None:
    # LocalProxy forwards attribute reads through a __getattr__ a subclass can replace.
    assert "__getattr__" in vars(LocalProxy)
    value: list[object | None] = [None]
    proxy = NamedProxy(lambda: value[0])
    with pytest.raises(Missing, match="sub"):
        proxy.sub  # noqa: B018 - the read is the test
    assert not proxy  # bool() is the proxied object's, not the subclass's
    value[0] = "alice"
    assert proxy.upper() == "ALICE"
    assert bool(proxy)


def test_running_loop_tells_an_async_view_from_a_sync_one() -> None:
    assert _compat.running_loop is asyncio._get_running_loop
    assert _compat.running_loop() is None

    async def inside() -> asyncio.AbstractEventLoop | None:
        return _compat.running_loop()

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(inside()) is loop
    finally:
        loop.close()
