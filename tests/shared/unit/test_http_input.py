"""The shared readers of what people send: numbers, forms and the routes themselves are
refused with a 4xx in the API's shape, never a 500; CSV meant for people runs no formula."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.http import (
    FISCAL_YEARS,
    JSON,
    ApiError,
    csv_cell,
    csv_text,
    exception_handlers,
    int_in,
    page,
    parse_int,
    read_form,
)

FORM_LIMIT = 10_000
# Each of these passes str.isdigit(), and int() refuses every one.
NOT_NUMBERS = ["²", "①", "1" * 5000, "๑" * 5000]


async def listing(request: Request) -> Response:
    limit, offset = page(request)
    return JSON({"limit": limit, "offset": offset})


async def form(request: Request) -> Response:
    got = await read_form(request, FORM_LIMIT, max_files=1, max_fields=5)
    sizes = {k: len(v) if isinstance(v, str) else len(await v.read()) for k, v in got.items()}
    return JSON(sizes)


async def item(request: Request) -> Response:
    return JSON({"n": request.path_params["n"]})


APP = Starlette(
    routes=[
        Route("/list", listing, methods=["GET"]),
        Route("/form", form, methods=["POST"]),
        Route("/items/{n:int}", item, methods=["GET"]),
    ],
    exception_handlers=exception_handlers({}),
)


def client() -> httpx.AsyncClient:
    # A 500 comes back as a response, for the test to see, not as the app's exception.
    transport = httpx.ASGITransport(app=APP, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def chunked(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_digits_int_refuses_are_no_number_not_an_error(text: str) -> None:
    assert text.isdigit()
    assert int_in(text, 0, 10**30) is None
    with pytest.raises(ApiError) as refused:
        parse_int(text, "fiscal_year", *FISCAL_YEARS)
    assert refused.value.status == 400 and refused.value.details[0]["field"] == "fiscal_year"


def test_ascii_and_thai_digits_are_numbers_within_their_bounds() -> None:
    assert int_in("2569", *FISCAL_YEARS) == 2569
    assert int_in(" ๒๕๖๙ ", *FISCAL_YEARS) == 2569
    assert int_in("2399", *FISCAL_YEARS) is None and int_in("2801", *FISCAL_YEARS) is None
    assert int_in("٤", 0, 9) is None, "other scripts' digits, which int() would take"
    assert (
        int_in("-1", -5, 5) is None and int_in("+1", 0, 5) is None and int_in("1_0", 0, 99) is None
    )
    assert int_in("", 0, 5) is None and int_in(None, 0, 5) is None
    assert parse_int("", "limit", 1, 5, default=3) == 3


async def test_a_list_refuses_a_huge_or_strange_offset_with_a_400_and_reads_thai_digits() -> None:
    async with client() as c:
        for query in ("offset=²", "offset=" + "1" * 5000, f"offset={2**64}", "limit=①", "limit=0"):
            r = await c.get(f"/list?{query}")
            assert r.status_code == 400, query
            assert r.json()["error"] == "bad_query"
        assert (await c.get("/list?limit=๒&offset=๑๐")).json() == {"limit": 2, "offset": 10}
        assert (await c.get("/list?limit=100000")).json()["limit"] == 500, "capped, as before"


# --------------------------------------------------------------------------- forms


async def test_a_chunked_form_is_counted_as_it_streams_and_refused_past_its_limit() -> None:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    async with client() as c:
        one_field = await c.post(
            "/form", content=chunked(b"a=", *[b"x" * 1000] * 20), headers=headers
        )
        # Fields each well under the limit, together past it (and within max_fields).
        many = await c.post(
            "/form", content=chunked(*[b"f%d=%s&" % (i, b"y" * 3000) for i in range(4)]),
            headers=headers,
        )  # fmt: skip
        small = await c.post("/form", content=chunked(b"a=1&b=", b"%E0%B8%81"), headers=headers)
    for r in (one_field, many):
        assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert small.status_code == 200 and small.json() == {"a": 1, "b": 1}


async def test_a_form_that_says_it_is_small_and_is_not_is_refused() -> None:
    body = b"a=" + b"x" * 20_000
    async with client() as c:
        r = await c.post(
            "/form",
            content=chunked(body),
            headers={"content-type": "application/x-www-form-urlencoded", "content-length": "10"},
        )
    assert r.status_code == 413


async def test_a_chunked_upload_past_the_limit_is_a_413_not_a_file_read_whole() -> None:
    boundary = b"b0undary"
    head = b'--b0undary\r\nContent-Disposition: form-data; name="photo"; filename="p.jpg"\r\n'
    parts = [head + b"Content-Type: image/jpeg\r\n\r\n", *[b"\xff" * 4096] * 50]
    headers = {"content-type": f"multipart/form-data; boundary={boundary.decode()}"}
    async with client() as c:
        r = await c.post("/form", content=chunked(*parts), headers=headers)
        declared = await c.post(
            "/form",
            files={"photo": ("p.jpg", b"\xff" * 50_000, "image/jpeg")},
        )
        fits = await c.post("/form", files={"photo": ("p.jpg", b"\xff" * 500, "image/jpeg")})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert declared.status_code == 413
    assert fits.status_code == 200 and fits.json() == {"photo": 500}


async def test_a_malformed_form_or_one_with_too_many_parts_is_a_400() -> None:
    async with client() as c:
        no_boundary = await c.post(
            "/form", content=b"x", headers={"content-type": "multipart/form-data"}
        )
        fields = await c.post("/form", data={f"f{i}": "1" for i in range(10)})
        files = await c.post("/form", files=[("a", ("a.txt", b"1")), ("b", ("b.txt", b"2"))])
    for r in (no_boundary, fields, files):
        assert r.status_code == 400 and r.json()["error"] == "invalid_form", r.text


# --------------------------------------------------------------------------- routes


async def test_route_level_404_and_405_answer_in_the_api_shape() -> None:
    async with client() as c:
        missing = await c.get("/nowhere/a%2Fb")
        wrong = await c.delete("/form")
        long_index = await c.get("/items/" + "1" * 5000)
        index = await c.get("/items/12")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert missing.headers["content-type"].startswith("application/json")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"
    assert wrong.headers["allow"] == "POST"
    assert long_index.status_code == 404 and long_index.json()["error"] == "not_found"
    assert index.json() == {"n": 12}


# --------------------------------------------------------------------------- CSV out


def test_cells_that_would_start_a_formula_are_made_text() -> None:
    risky = ["=1+1", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")']
    text = csv_text(["a"], [[cell] for cell in risky] + [["ถนนพัง"], [-1.5], [None]], bom=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert [r[0] for r in rows[1 : len(risky) + 1]] == ["'" + cell for cell in risky]
    assert rows[len(risky) + 1 :] == [["ถนนพัง"], ["-1.5"], [""]]
    assert csv_cell(3) == 3 and csv_cell("a=b") == "a=b"
