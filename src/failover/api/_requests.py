"""Reading requests: a JSON body, bounded in size and checked against its model, and the
journal's ``?since=`` query; what does not fit is a :class:`RequestRefused`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request

from failover.api._answers import RequestRefused, key_path, validation_problems
from failover.api._models import EARLIEST, as_utc
from failover.config import parse_duration

#: The largest request body accepted (Alertmanager groups stay far below it).
MAX_BODY_BYTES = 1024 * 1024

_Model = TypeVar("_Model", bound=BaseModel)


async def _read_body(request: Request) -> bytes:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise RequestRefused(415, "expected Content-Type: application/json")
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestRefused(413, f"request body larger than {MAX_BODY_BYTES} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise RequestRefused(413, f"request body larger than {MAX_BODY_BYTES} bytes")
    except ClientDisconnect:
        raise RequestRefused(400, "client disconnected") from None
    return bytes(body)


def _nul_at(value: object, loc: tuple[int | str, ...] = ()) -> tuple[int | str, ...] | None:
    """Where a text in ``value`` (a key included) holds a NUL character, if anywhere."""
    if isinstance(value, str):
        return loc if "\x00" in value else None
    items: Iterator[tuple[int | str, object]]
    if isinstance(value, Mapping):
        items = iter(value.items())
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return (*loc, key)
        found = _nul_at(item, (*loc, key))
        if found is not None:
            return found
    return None


async def parse_body(request: Request, model: type[_Model]) -> _Model:
    body = await _read_body(request)
    try:
        parsed = model.model_validate_json(body, strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise RequestRefused(400, "request body is not valid JSON", [e["msg"] for e in errors]) from None
        raise RequestRefused(422, "invalid request body", validation_problems(exc)) from None
    # JSON may write a NUL (\u0000); no text of ours has a use for one, and PostgreSQL stores none
    where = _nul_at(parsed.model_dump(by_alias=True))
    if where is not None:
        raise RequestRefused(
            422, "invalid request body", [f"{key_path(where)}: must not contain NUL (\\u0000)"]
        )
    return parsed


def parse_since(text: str, now: datetime) -> datetime:
    """``30m``, ``24h``, ``7d`` (that long before ``now``) or an ISO-8601 time with an offset."""
    try:
        seconds = parse_duration(text, at_most=None)  # longer than the calendar: see below
    except ValueError:
        pass
    else:
        try:
            return now - timedelta(seconds=seconds)
        except OverflowError:  # longer ago than the calendar goes: the whole journal
            return EARLIEST
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RequestRefused(
            422, "invalid query", ["since: expected a duration (30m, 24h, 7d) or an ISO-8601 time"]
        ) from None
    if moment.tzinfo is None:
        raise RequestRefused(422, "invalid query", ["since: an ISO-8601 time needs an offset (Z or +hh:mm)"])
    return as_utc(moment)
