"""tools/pii_scan.py's matching, on crafted input: each kind of personal data found in every
form it takes on the way out, and the look-alikes (ids, redaction marks, titles that are not
names) left alone."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tools.demo.context import Report
from tools.demo.stages import intake as stage
from tools.pii_scan import (
    Hit,
    Name,
    Needles,
    ThreadedTransport,
    demo_input,
    find,
    get_again_if_dropped,
    needles_from,
    strings_of,
    valid_national_id,
)

NATIONAL_ID = "1101700230708"  # a made-up number with a valid check digit
INPUT = [
    "ถนนพังหน้าบ้าน ติดต่อนางสาวชูใจ อเนกานนท์ โทร 081-234-5678",
    "ไฟดับ แจ้งโดยนายสมปอง ใจดี อีเมล Somchai.J@Example.co.th",
    f"บัตรประชาชน {NATIONAL_ID[:1]}-{NATIONAL_ID[1:5]}-{NATIONAL_ID[5:10]}-"
    f"{NATIONAL_ID[10:12]}-{NATIONAL_ID[12]}",
    "ท่านนายกฯ และนายช่างมาดูแล้ว เจ้านายลำเอียง ลูกน้องบอกนายให้กลับ ย่านนางเลิ้ง",  # no one
]
LINE_USER = "U" + "4f" * 16


def needles() -> Needles:
    return needles_from(INPUT, phones=["๐๘๙ ๘๗๖ ๕๔๓๒"], line_ids=[LINE_USER])


def kinds(hits: list[Hit]) -> list[tuple[str, str]]:
    return sorted({(h.kind, h.value) for h in hits})


def test_the_input_yields_each_kind_once_and_no_titles_as_names() -> None:
    n = needles()
    assert n.phones == {"0812345678", "0898765432"}
    assert n.emails == {"somchai.j@example.co.th"}
    assert n.line_ids == {LINE_USER} and n.national_ids == {NATIONAL_ID}
    assert [str(x) for x in n.names] == ["นางสาวชูใจ อเนกานนท์", "นายสมปอง ใจดี"]


def test_a_phone_is_found_however_it_is_written() -> None:
    n = needles()
    for written in (
        "0812345678",
        "081-234-5678",
        "081 234 5678",
        "+66812345678",
        "+66 81 234 5678",
        "66812345678",
        "๐๘๑-๒๓๔-๕๖๗๘",
        '{"phone": "+66898765432"}',
    ):
        assert [h.kind for h in find(n, f"โทร {written} ครับ", "t")] == ["phone"], written


def test_each_kind_is_found_in_a_json_message() -> None:
    message = json.dumps(
        {
            "payload": {
                "text": "ติดต่อ ชูใจ  อเนกานนท์ ได้ที่ SOMCHAI.J@example.co.th",
                "contact": {"line_user_id": LINE_USER, "id": NATIONAL_ID},
                "note": "นายสมปอง ใจดี มาแจ้ง",
            }
        },
        ensure_ascii=True,  # \\u escapes, as some encoders write Thai
    )
    hits = find(needles(), strings_of(message), "case.received #0")
    assert kinds(hits) == [
        ("LINE user id", LINE_USER),
        ("e-mail", "somchai.j@example.co.th"),
        ("name", "ชูใจ อเนกานนท์"),
        ("name", "นายสมปอง"),
        ("national ID", NATIONAL_ID),
    ]
    assert all(h.where == "case.received #0" for h in hits)


def test_redacted_text_and_look_alikes_are_not_findings() -> None:
    n = needles()
    clean = [
        "ติดต่อ[ชื่อ] โทร [เบอร์โทร] อีเมล [อีเมล] [LINE ID] [เลขบัตรประชาชน]",
        "event 0812345a-1234-4234-8234-081234567801, ref tx_" + "0812345678" * 3 + "ab",
        "mid-" + "08123456780812345678081234567812",
        "นายกฯ และนายช่าง และนายสมปองพล",  # another name that starts the same
        "ชูใจ",  # a given name alone is also a word
        "081-234-5679 และ 02-123-4567",  # other numbers
        "U" + "4f" * 15 + "00",
        "1101700230709",  # the ID with another check digit is another number
    ]
    assert [find(n, text, "x") for text in clean] == [[]] * len(clean)


def test_the_check_digit_of_a_national_id() -> None:
    assert valid_national_id(NATIONAL_ID) and not valid_national_id("1234567890123")


def test_a_name_without_title_is_matched_only_whole() -> None:
    n = needles_from([], names=[Name("", "Somchai", "Jaidee")])
    assert [h.kind for h in find(n, "by Somchai  Jaidee", "x")] == ["name"]
    assert find(n, "Somchai only", "x") == []


def test_the_demos_input_is_read_with_the_demos_own_functions() -> None:
    reports = [
        Report(f"T-{i}", "ไฟดับ โทร 0861112222", ("แสงสว่าง",), 15.7, 103.5, "", "", "", "")
        for i in range(40)
    ]
    n = demo_input(reports)
    by_channel = {c: [r for r in reports if stage.channel_of(r) == c] for c, _ in stage.MIX}
    assert all(by_channel[c] for c in ("open311", "line", "phone", "letter"))
    assert "0861112222" in n.phones  # from the words
    assert stage.open311_form(by_channel["open311"][0], "k")["phone"] in n.phones
    assert stage.phone_record(by_channel["phone"][0])["caller_number"] in n.phones
    line = json.loads(stage.line_body(by_channel["line"][0]))
    assert line["events"][0]["source"]["userId"] in n.line_ids
    assert "นายผู้ส่ง ตัวอย่าง" in [str(x) for x in n.names]  # every letter's sender


async def test_a_get_dropped_with_its_connection_is_sent_once_more() -> None:
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        if len(sent) == 1:
            raise httpx.ReadError("closed by the peer", request=request)
        return httpx.Response(200, text="ok")

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        r = await get_again_if_dropped(client, "http://svc/v1/cases", {})
    assert r.text == "ok" and sent == ["http://svc/v1/cases"] * 2


async def test_a_get_dropped_twice_is_not_sent_a_third_time() -> None:
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        raise httpx.RemoteProtocolError("closed without a response", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await get_again_if_dropped(client, "http://svc/v1/cases", {})
    assert len(sent) == 2


# --------------------------------------------------------------------------- the transport


class _Server(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn
    peers: list[tuple[str, int]]  # the client's end of the connection, per request

    def do_GET(self) -> None:
        type(self).peers.append(self.client_address)
        if self.path == "/drop":  # closed before any answer, as a server that timed out
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._answer(200, f"got {self.path} {self.headers.get('Authorization')}".encode())

    def do_POST(self) -> None:
        type(self).peers.append(self.client_address)
        self._answer(201, self.rfile.read(int(self.headers["Content-Length"])))

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Server]]]:
    handler = type("Handler", (_Server,), {"peers": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_the_transport_answers_as_httpx_and_keeps_its_connection(
    server: tuple[str, type[_Server]],
) -> None:
    url, handler = server
    async with httpx.AsyncClient(transport=ThreadedTransport(threads=1)) as client:
        first = await client.get(url + "/v1/cases?x=%E0%B8%81", headers={"Authorization": "t"})
        second = await client.post(url + "/token", content="ชื่อ=ร่วม".encode())
    assert (first.status_code, first.text) == (200, "got /v1/cases?x=%E0%B8%81 t")
    assert first.headers["content-type"].startswith("text/plain")
    assert (second.status_code, second.text) == (201, "ชื่อ=ร่วม")
    assert handler.peers[0] == handler.peers[1]  # one connection for both


async def test_an_idle_connection_is_not_sent_on_again(
    server: tuple[str, type[_Server]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, handler = server
    monkeypatch.setattr(ThreadedTransport, "IDLE", 0.0)
    async with httpx.AsyncClient(transport=ThreadedTransport(threads=1)) as client:
        for _ in range(2):
            assert (await client.get(url + "/a")).status_code == 200
    assert handler.peers[0] != handler.peers[1]


async def test_a_connection_closed_without_an_answer_is_sent_once_more(
    server: tuple[str, type[_Server]],
) -> None:
    url, handler = server
    async with httpx.AsyncClient(transport=ThreadedTransport(threads=1)) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await get_again_if_dropped(client, url + "/drop", {})
        assert (await client.get(url + "/after")).text == "got /after None"
    assert len(handler.peers) == 3  # the drop, sent once more, then a new connection
    assert len({handler.peers[0], handler.peers[1], handler.peers[2]}) == 3


async def test_a_closed_port_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: nothing answers
        async with httpx.AsyncClient(transport=ThreadedTransport(threads=1)) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{port}/")
