"""Answers: JSON bodies, and refusals as ``{"error": reason, "detail": ["key.path: problem"]}``
(:class:`RequestRefused`), never echoing what a client sent."""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

#: Field and label names shown in error paths (Prometheus label names fit too).
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
#: At most this many problems are listed in a 422 answer.
_MAX_PROBLEMS = 20


class RequestRefused(Exception):  # noqa: N818 (an answer, not a fault: the request was wrong)
    """A request answered with a 4xx. Raised below an endpoint, or by a backend that
    finds a well-formed request unusable (an unknown group, a target that does not
    exist): ``error`` is the reason, ``detail`` the key paths concerned."""

    def __init__(
        self, status: int, error: str, detail: Sequence[str] = (), headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = tuple(detail)
        self.headers = dict(headers or {})


def _jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class JSONAnswer(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_jsonable
        ).encode("utf-8")


def error_answer(
    status: int, error: str, detail: Sequence[str] = (), headers: Mapping[str, str] | None = None
) -> Response:
    return JSONAnswer({"error": error, "detail": list(detail)}, status_code=status, headers=headers)


def key_path(loc: Sequence[int | str]) -> str:
    """``("alerts", 0, "startsAt")`` → ``alerts[0].startsAt``, as config errors spell keys.

    A key that is not an identifier (an unknown key a client sent, which could be an
    address or a phone number) is shown as ``<key>``: answers never echo what was sent."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            text = part if _IDENTIFIER.fullmatch(part) else "<key>"
            path += f".{text}" if path else text
    return path or "(body)"


def validation_problems(exc: ValidationError) -> list[str]:
    # pydantic's ``msg`` names the expectation, never the input; ``input`` is left out on purpose
    problems = [f"{key_path(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
    if len(problems) > _MAX_PROBLEMS:
        problems = [*problems[:_MAX_PROBLEMS], f"... and {len(problems) - _MAX_PROBLEMS} more"]
    return problems


async def http_error(_request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (unknown route, wrong method) as JSON."""
    assert isinstance(exc, HTTPException)
    return error_answer(exc.status_code, exc.detail, headers=exc.headers)
