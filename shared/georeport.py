"""Open311 GeoReport v2 answers in the format a client asks for.

GeoReport v2 makes XML the required format and JSON optional: a client names the one it
wants by the resource's extension (`/services.xml`, `/requests.json`). Every answer,
refusals included, is rendered here, so the endpoints, the rate limit in front of them and
the catch-all for unknown paths all speak the same two formats.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

from starlette.responses import Response

from shared.http import JSON, ApiError

JSON_FORMAT, XML_FORMAT = "json", "xml"
MEDIA_TYPES = {XML_FORMAT: "text/xml", JSON_FORMAT: "application/json"}

# The element that names each member of a list, as the spec's XML examples write them.
LIST_ITEMS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}

# XML 1.0 cannot carry these characters at all, escaped or not (a NUL, most C0 controls,
# lone surrogates, U+FFFE/U+FFFF); a citizen's text is published without them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def format_of(path: str) -> str | None:
    """The format a resource path names by its extension: `json`, `xml`, another word if
    it names one the API has not, or None (no extension: the spec's base answers JSON)."""
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if "." not in last:
        return None
    return last.rsplit(".", 1)[1].lower()


def _text(value: Any) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    return escape(_NOT_XML.sub("", str(value)))


def _element(name: str, value: Any, out: list[str]) -> None:
    if value is None or value == "" or value == [] or value == {}:
        out.append(f"<{name}/>")
    elif isinstance(value, Mapping):
        out.append(f"<{name}>")
        for key, inner in value.items():
            _element(str(key), inner, out)
        out.append(f"</{name}>")
    elif isinstance(value, (list, tuple)):
        item = LIST_ITEMS[name]
        out.append(f"<{name}>")
        for inner in value:
            _element(item, inner, out)
        out.append(f"</{name}>")
    else:
        out.append(f"<{name}>{_text(value)}</{name}>")


def to_xml(root: str, content: Any) -> bytes:
    """`content` (a list, each member named by `LIST_ITEMS[root]`, or a mapping) as one XML
    document with the declaration the spec asks for."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    _element(root, content, out)
    return "".join(out).encode("utf-8")


def answer(
    fmt: str | None,
    root: str,
    content: Sequence[Any] | Mapping[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """`content` as JSON (the same lists and objects as ever) or, for `.xml`, under the
    spec's root element."""
    if fmt == XML_FORMAT:
        return Response(
            to_xml(root, content),
            status_code=status_code,
            headers=dict(headers or {}) or None,
            media_type="text/xml; charset=utf-8",
        )
    return JSON(content, status_code=status_code, headers=dict(headers or {}) or None)


def refusal(error: ApiError, fmt: str | None = None) -> Response:
    """A refusal as the spec writes errors, `[{"code", "description"}]` (or `<errors>`),
    its status and headers (Retry-After, Allow) kept: what Open311 clients read, whether
    the endpoint, the rate limit in front of it or the catch-all refused."""
    headers = error.all_headers()
    body = [{"code": error.status, "description": error.message}]
    return answer(
        fmt if fmt == XML_FORMAT else JSON_FORMAT,
        "errors",
        body,
        status_code=error.status,
        headers=headers,
    )
