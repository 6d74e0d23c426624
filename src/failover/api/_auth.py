"""Authentication: the bearer tokens the operator's endpoints need, read at each request
(a reload changes them), compared in constant time, and the operator each one names."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping

from starlette.requests import Request

from failover.api._answers import RequestRefused
from failover.api._port import API_OPERATOR

_BEARER_REALM = 'Bearer realm="failover"'


class Operators:
    """The tokens that authorize the operator's endpoints: ``token`` (``daemon.api_token``,
    the operator ``api``) and ``tokens``, the named operators' (a callable is asked at each
    request)."""

    def __init__(
        self,
        *,
        token: str | Callable[[], str | None] | None,
        tokens: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self._token = token
        self._tokens = tokens

    def _named_tokens(self) -> dict[str, bytes]:
        """Operator name → token, now (a reload changes them), ``api`` for ``api_token``."""
        named = self._tokens() if callable(self._tokens) else self._tokens
        found = {name: token.encode("utf-8") for name, token in (named or {}).items() if token}
        single = self._current_token()
        if single is not None:
            found[API_OPERATOR] = single
        return found

    def _current_token(self) -> bytes | None:
        """The token now: a daemon reloading its configuration revokes the old one at once."""
        token = self._token() if callable(self._token) else self._token
        # an empty token would let an empty Authorization through: treat it as none
        return token.encode("utf-8") if token else None

    def authorize(self, request: Request) -> str:
        """The operator whose token the request carries (``api`` for ``daemon.api_token``)."""
        expected = self._named_tokens()
        if not expected:
            raise RequestRefused(403, "API token not configured")
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            raise RequestRefused(401, "bearer token required", headers={"WWW-Authenticate": _BEARER_REALM})
        # headers arrive latin-1 decoded: encoding back gives the bytes the client sent
        sent = presented.encode("latin-1")
        # every token is compared, so the time taken does not tell which one came close
        matches = [name for name, token in expected.items() if hmac.compare_digest(sent, token)]
        if not matches:
            raise RequestRefused(
                401,
                "invalid bearer token",
                headers={"WWW-Authenticate": f'{_BEARER_REALM}, error="invalid_token"'},
            )
        return matches[0]
