"""An MCP server of orders, protected by Cognito access tokens (the MCP Python SDK).

Two tools: ``list_orders`` needs the scope ``orders/read`` and ``place_order`` needs
``orders/write``; each sees the caller (the token's ``sub``) through the SDK's access token. A
request without a valid token gets the SDK's 401 with ``resource_metadata="..."``, whose RFC 9728
document (``/.well-known/oauth-protected-resource/mcp``) names the user pool; a token that cannot
be judged because the pool's keys are unreachable gets 503 with ``Retry-After``.

Configured from the ``COGNITO_*`` variables of :mod:`cognito_guard.config`, with
``COGNITO_AUDIENCE`` set to this server's URL (the resource clients name with ``resource=``, and
the ``aud`` their tokens must carry)::

    COGNITO_USER_POOL_ID=eu-west-1_AbCdEf123 COGNITO_CLIENT_ID=4a1b2c3d4e5f6g7h8i9j0k1l2m \\
    COGNITO_AUDIENCE=https://mcp.example.com/mcp \\
        uvicorn mcp_server:create_app --factory --app-dir examples

Against a local issuer (no AWS account): ``python examples/mcp_server.py`` starts the local
user pool's test double on http://127.0.0.1:9229 (JWKS, token endpoint, discovery document),
prints an access token for each tool, and serves the MCP server on http://127.0.0.1:8000/mcp::

    python examples/mcp_server.py
    # then, with a printed token:
    curl -i http://127.0.0.1:8000/mcp -H 'Authorization: Bearer <token>' \\
        -H 'Accept: application/json, text/event-stream' -H 'Content-Type: application/json' \\
        -d '{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}'

Needs ``pip install 'cognito-guard[mcp]'`` (the ``mcp`` package: ``MCPServer`` from mcp 2,
``FastMCP`` on mcp 1.x, which Python 3.10 gets).
"""

from __future__ import annotations

import os
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings

from cognito_guard import ConfigurationError
from cognito_guard.config import verifier_from_env
from cognito_guard.integrations.mcp import CognitoTokenVerifier
from cognito_guard.resource import ProtectedResource

try:  # mcp 2
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as MCPServer
    from mcp.server.fastmcp.exceptions import ToolError

ORDERS: dict[str, list[dict[str, Any]]] = {}


def _caller(scope: str) -> AccessToken:
    """The access token of the request, if it has ``scope``; else the tool refuses to run."""
    token = get_access_token()
    if token is None or scope not in token.scopes:
        # A ToolError is the tool's answer (is_error), its text shown to the client.
        raise ToolError(f"this tool needs the scope {scope!r}")
    return token


def list_orders() -> str:
    """The caller's orders (needs the scope orders/read)."""
    caller = _caller("orders/read").subject or ""
    orders = ORDERS.get(caller, [])
    return f"orders of {caller}: {orders}"


def place_order(item: str, quantity: int = 1) -> str:
    """Order ``quantity`` of ``item`` for the caller (needs the scope orders/write)."""
    caller = _caller("orders/write").subject or ""
    ORDERS.setdefault(caller, []).append({"item": item, "quantity": quantity})
    return f"ordered {quantity} x {item} for {caller}"


def create_app() -> Any:
    """The MCP server's ASGI app, configured from the ``COGNITO_*`` environment variables."""
    verifier = verifier_from_env()
    if len(verifier.audiences) != 1:
        raise ConfigurationError(
            "set COGNITO_AUDIENCE to this server's URL, such as https://mcp.example.com/mcp: "
            "clients ask the user pool for tokens for it"
        )
    resource = ProtectedResource.for_verifier(
        verifier.audiences[0], verifier, scopes_supported=["orders/read", "orders/write"]
    )
    token_verifier = CognitoTokenVerifier(verifier)
    auth = AuthSettings(
        issuer_url=resource.authorization_servers[0],
        resource_server_url=resource.resource,
        # The SDK also checks that AccessToken.resource (the aud the verifier matched) is
        # this server.
        validate_token_resource=True,
    )
    options: dict[str, Any] = {"json_response": True, "stateless_http": True}
    if MCPServer.__name__ == "MCPServer":  # mcp 2: transport options go to the app
        server = MCPServer("orders", token_verifier=token_verifier, auth=auth)
        server.tool()(list_orders)
        server.tool()(place_order)
        return token_verifier.wrap(server.streamable_http_app(**options))
    server = MCPServer("orders", token_verifier=token_verifier, auth=auth, **options)
    server.tool()(list_orders)
    server.tool()(place_order)
    return token_verifier.wrap(server.streamable_http_app())


def main() -> None:  # pragma: no cover - an interactive run
    """Serve the MCP server against a local user pool, printing a token for each tool."""
    import uvicorn

    from cognito_guard.testing import LocalIssuer

    resource = "http://127.0.0.1:8000/mcp"
    issuer = LocalIssuer(issuer="http://127.0.0.1:9229/us-east-1_LocalPool1")
    with issuer.serve_oauth(port=9229, client_secret="local-secret", resources=[resource]):
        os.environ.update(
            COGNITO_ISSUER=issuer.issuer,
            COGNITO_CLIENT_ID=issuer.client_id,
            COGNITO_AUDIENCE=resource,
        )
        for scopes in (["orders/read"], ["orders/read", "orders/write"]):
            token = issuer.access_token(scopes=scopes, aud=resource, expires_in=8 * 3600)
            print(f"token with {' '.join(scopes)}:\n{token}\n")
        uvicorn.run(create_app(), host="127.0.0.1", port=8000)


if __name__ == "__main__":  # pragma: no cover
    main()
