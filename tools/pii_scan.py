"""`python -m tools.pii_scan`: after `make demo`, does personal data of the demo's input show
anywhere it must not?

It rebuilds exactly what the demo sent (the same reports, through the same functions of
tools/demo/stages/intake.py) and collects from it every phone number, e-mail address, LINE
user id, Thai national ID number and personal name (a Thai title with the name after it).
Then it reads every message of every Ruam topic under the demo's prefix from the start, and
the answers of every GET endpoint that an auditor or an anonymous caller may call (each
service's declared routes, shared/access.py), and reports each of those values it finds.
An item matches in any of its forms: a phone as 0812345678, 081-234-5678, +66 81 234 5678
or in Thai digits; an e-mail in any case; a name with or without its title.

    python -m tools.pii_scan [--profile local] [--data CSV]   # exit 1 on any finding

What the vault keeps (sealed) and the audited personal endpoint are the only places these
values may be read from; neither is scanned. See docs/personal-data.md.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import functools
import http.client
import io
import json
import os
import re
import sys
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from shared.thai import thai_digits_to_arabic
from tools.accounts import Accounts
from tools.kafka_read import read_to_end

# --------------------------------------------------------------------------- matching
# Written apart from shared/redact.py on purpose: a check built on the redactor's own patterns
# could never find what those patterns miss.

_THAI_LETTER = "\u0e01-\u0e4e"
_SEP = r"[\s\-.]?"
# A Thai phone in any of its usual spellings: 0X-XXXX-XXXX, 0XX-XXX-XXXX, +66 X XXXX XXXX.
# Each pattern opens with a look at the one character it can start with: Python's engine
# then skips the other positions (most of a Thai page) at once, three times faster.
_PHONE = re.compile(
    rf"(?=[+6(0])(?<!\d)(?:\+?66{_SEP}(?:\(?0\)?)?|\(?0\)?)\d(?:{_SEP}\d){{7,8}}(?!\d)"
)
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_LINE_ID = re.compile(r"U[0-9a-f]{32}")
_ID_CARD = re.compile(r"(?=\d)(?<!\d)\d(?:[\s\-]?\d){12}(?!\d)")
# A Thai word starts with a consonant or a leading vowel (ใจดี, เอี่ยม).
_FIRST = "[ก-ฮเ-ไ]"
_TITLES = r"นางสาว|น\.ส\.|นาง|นาย|เด็กชาย|เด็กหญิง|ด\.ช\.|ด\.ญ\."
# Not after เจ้า: เจ้านาย is "the boss", whatever follows.
_NAME = re.compile(
    rf"(?<!เจ้า)(?P<title>{_TITLES})\s*(?P<given>{_FIRST}[{_THAI_LETTER}]{{1,24}})"
    rf"(?:[ \t]+(?P<surname>{_FIRST}[{_THAI_LETTER}]{{1,30}}))?"
)
# Words that start like a title and a name but are not one (นายก: the mayor).
_NOT_NAMES = (
    "นายก", "นายอำเภอ", "นายช่าง", "นายจ้าง", "นายทุน", "นายหน้า", "นายประกัน", "นายทหาร",
    "นายตำรวจ", "นายแพทย์", "นายสิบ", "นายร้อย", "นายพัน", "นายพล", "นายท่า", "นายด่าน",
    "นายเทศมนตรี", "นายอ", "นางพยาบาล", "นางงาม", "นางฟ้า", "นางแบบ", "นางเอก", "นางรำ",
    "นางเลิ้ง", "นางรอง", "นางแล", "นางลิ้นจี่",  # places
)  # fmt: skip
# What follows a title when it is a word of the sentence, not a name ("...นายให้กลับบ้าน").
_NOT_GIVEN = ("ให้", "ได้", "ที่", "ก็", "ว่า", "ไม่", "ของ", "และ", "กับ")
# Ids that are hex (event ids, vault references, hashes): their digit runs are not numbers.
_HEX_IDS = re.compile(
    r"(?=[0-9a-fmst])(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|\b(?:ct|tx)_[0-9a-f]{32}\b|\bmid-[0-9a-f]{32}\b|\bsha256:[0-9a-f]+)"
)


@dataclass(frozen=True)
class Name:
    title: str
    given: str
    surname: str | None = None

    def patterns(self) -> list[str]:
        """How the name shows in text: with its title, or given name and surname (a given
        name alone is too often a word as well)."""
        out = []
        if self.title:
            out.append(re.escape(self.title + self.given) + f"(?![{_THAI_LETTER}])")
        if self.surname:
            out.append(re.escape(self.given) + r"\s*" + re.escape(self.surname))
        return out

    def __str__(self) -> str:
        return f"{self.title}{self.given}" + (f" {self.surname}" if self.surname else "")


@dataclass(frozen=True)
class Needles:
    """The personal data of the input, each in one canonical form."""

    phones: frozenset[str] = frozenset()  # national form: 0 and 8 or 9 digits
    emails: frozenset[str] = frozenset()  # lower case
    line_ids: frozenset[str] = frozenset()
    national_ids: frozenset[str] = frozenset()  # 13 digits
    names: tuple[Name, ...] = ()
    _names: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def counts(self) -> dict[str, int]:
        return {
            "phone": len(self.phones),
            "e-mail": len(self.emails),
            "LINE user id": len(self.line_ids),
            "national ID": len(self.national_ids),
            "name": len(self.names),
        }

    def name_pattern(self) -> re.Pattern[str] | None:
        if not self.names:
            return None
        if self._names is None:
            alternatives = sorted({p for n in self.names for p in n.patterns()}, key=len)
            object.__setattr__(self, "_names", re.compile("|".join(reversed(alternatives))))
        return self._names


@dataclass(frozen=True)
class Hit:
    kind: str
    value: str
    where: str

    def masked(self) -> str:
        """The value with its middle hidden: a report is read, and pasted, by many."""
        v = self.value
        keep = max(1, len(v) // 4)
        return v[:keep] + "•" * (len(v) - 2 * keep) + v[-keep:] if len(v) > 3 else "•••"


def canonical_phone(raw: str) -> str | None:
    digits = re.sub(r"\D", "", thai_digits_to_arabic(raw))
    if digits.startswith("66") and len(digits) in (10, 11):
        digits = "0" + digits[2:]
    elif digits.startswith("660") and len(digits) in (11, 12):
        digits = digits[2:]
    return digits if digits.startswith("0") and len(digits) in (9, 10) else None


def valid_national_id(digits: str) -> bool:
    """The check digit of a Thai national ID: a 13-digit run that fails it is not one."""
    if len(digits) != 13 or not digits.isdigit():
        return False
    total = sum(int(d) * (13 - i) for i, d in enumerate(digits[:12]))
    return (11 - total % 11) % 10 == int(digits[12])


_THAI_DIGIT = re.compile("[\u0e50-\u0e59]")


def normalized(text: str) -> str:
    """Text as it is compared: NFC, Arabic digits, hex ids taken out."""
    text = unicodedata.normalize("NFC", text)
    if _THAI_DIGIT.search(text):  # translating costs more than looking
        text = thai_digits_to_arabic(text)
    return _HEX_IDS.sub(" ", text)


def names_in(text: str) -> list[Name]:
    found = []
    for m in _NAME.finditer(unicodedata.normalize("NFC", text)):
        title, given = m.group("title"), m.group("given")
        if (title + given).startswith(_NOT_NAMES) or given.startswith(_NOT_GIVEN):
            continue
        found.append(Name(title, given, m.group("surname")))
    return found


def needles_from(
    free_text: Iterable[str],
    *,
    phones: Iterable[str] = (),
    emails: Iterable[str] = (),
    line_ids: Iterable[str] = (),
    names: Iterable[Name] = (),
) -> Needles:
    """What is personal in an input: the fields that are (a caller's number, a LINE user),
    and what the words people wrote contain."""
    texts = [normalized(t) for t in free_text if t]
    found_phones = {p for p in (canonical_phone(x) for x in phones if x) if p}
    found_emails = {e.lower() for e in emails if e}
    found_ids = set(line_ids)
    national: set[str] = set()
    found_names = list(names)
    for text in texts:
        found_phones |= {p for p in (canonical_phone(m) for m in _PHONE.findall(text)) if p}
        found_emails |= {e.lower() for e in _EMAIL.findall(text)}
        found_ids |= set(_LINE_ID.findall(text))
        national |= {d for m in _ID_CARD.findall(text) if valid_national_id(d := _digits(m))}
        found_names += names_in(text)
    return Needles(
        phones=frozenset(found_phones),
        emails=frozenset(found_emails),
        line_ids=frozenset(found_ids),
        national_ids=frozenset(national),
        names=tuple(dict.fromkeys(found_names)),
    )


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def find(needles: Needles, text: str, where: str) -> list[Hit]:
    """Every value of `needles` that `text` (a message, an answer; JSON read as its
    strings) shows, in any of its forms."""
    text = normalized(readable(text))
    hits: list[Hit] = []
    for m in _PHONE.findall(text):
        phone = canonical_phone(m)
        if phone in needles.phones:
            hits.append(Hit("phone", phone, where))
    for m in _ID_CARD.findall(text):
        if (digits := _digits(m)) in needles.national_ids:
            hits.append(Hit("national ID", digits, where))
    lowered = text.lower()
    hits += [Hit("e-mail", e, where) for e in sorted(needles.emails) if e in lowered]
    hits += [Hit("LINE user id", u, where) for u in _LINE_ID.findall(text) if u in needles.line_ids]
    pattern = needles.name_pattern()
    if pattern is not None:
        spaced = re.sub(r"[ \t\u00a0]+", " ", text)
        hits += [Hit("name", m.group(0), where) for m in pattern.finditer(spaced)]
    return hits


def strings_of(raw: bytes | str) -> str:
    """The text of a message or an answer: its JSON strings (keys too), unescaped, one per
    line; the raw text when it is not JSON."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return "\n".join(_walk(value))


def readable(text: str) -> str:
    """`text` with its JSON, whole or a line of it, as strings (\\u escapes undone)."""
    try:
        return "\n".join(_walk(json.loads(text)))
    except ValueError:
        pass
    return "\n".join(
        strings_of(line) if line.startswith(("{", "[")) else line for line in text.splitlines()
    )


def _json_values(text: str) -> Iterator[Any]:
    try:
        yield json.loads(text)
        return
    except ValueError:
        pass
    for line in text.splitlines():
        if line.startswith(("{", "[")):
            try:
                yield json.loads(line)
            except ValueError:
                continue


def _walk(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield str(k)
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    elif value is not None:
        yield str(value)


# --------------------------------------------------------------------------- the demo's input


def demo_input(reports: Sequence[Any]) -> Needles:
    """The personal data of what `make demo` sends for `reports`, built by the demo's own
    functions (so that the scan follows the demo if it changes)."""
    from tools.demo.stages import intake as stage

    texts: list[str] = []
    phones: list[str] = []
    emails: list[str] = []
    line_ids: list[str] = []
    names: list[Name] = []
    box = []
    for report in reports:
        channel = stage.channel_of(report)
        texts += [report.text, report.address]
        if channel == "open311":
            form = stage.open311_form(report, "key")
            phones.append(form.get("phone", ""))
            emails.append(form.get("email", ""))
            first, last = form.get("first_name", "").strip(), form.get("last_name", "").strip()
            if first and last:
                names.append(Name("", first, last))
        elif channel == "line":
            body = json.loads(stage.line_body(report))
            for event in body["events"]:
                line_ids.append(event["source"]["userId"])
                message = event.get("message", {})
                texts += [message.get("text") or "", message.get("address") or ""]
        elif channel == "phone":
            record = stage.phone_record(report)
            phones.append(record.get("caller_number") or "")
            texts.append(record.get("caller_name") or "")
        elif channel == "letter":
            letter = stage.letter(report)
            texts += [letter.get("sender_name") or "", letter.get("sender_address") or ""]
        else:
            box.append(report)
    if box:
        for row in csv.DictReader(io.StringIO(stage.box_csv(box))):
            phones.append(row.get("phone") or "")
            texts.append(row.get("name") or "")
    return needles_from(texts, phones=phones, emails=emails, line_ids=line_ids, names=names)


# --------------------------------------------------------------------------- reading


async def read_topics(bootstrap: str, prefix: str, timeout: float = 60.0) -> dict[str, list[str]]:
    """Every message of every Ruam topic under `prefix`, from the start to the end as it
    is now, as text (key, then value)."""
    from shared.topics import Topic

    records = await read_to_end(bootstrap, [prefix + t.value for t in Topic], timeout)
    return {
        topic: [
            (r.key.decode("utf-8", errors="replace") if r.key else "")
            + "\n"
            + (r.value.decode("utf-8", errors="replace") if r.value else "")
            for r in found
        ]
        for topic, found in records.items()
    }


@dataclass(frozen=True)
class Get:
    service: str
    path: str  # with {params}
    auditor: bool  # an auditor may call it
    anonymous: bool  # anyone may


def readable_routes() -> list[Get]:
    """The GET endpoints an auditor or an anonymous caller may call, as each service
    declares them (shared/access.py), and the dead letters every service serves."""
    import importlib

    from shared.access import Endpoint
    from shared.roles import Role

    auditor = frozenset({Role.AUDITOR})
    out: list[Get] = []
    for service in STAGES:
        module = importlib.import_module(f"services.{service}.http")
        for route in module.routes():
            methods = getattr(route, "methods", None) or set()
            path = getattr(route, "path", "")
            # A PDF is not read (only JSON and text answers are): its HTML twin is.
            if "GET" not in methods or ":path}" in path or path.endswith(".pdf"):
                continue
            if isinstance(route, Endpoint):
                public = route.access.public is not None
                if public or route.access.allows(auditor):
                    out.append(Get(service, path, route.access.allows(auditor), public))
            else:  # undeclared: call it both ways, and let its answer say
                out.append(Get(service, path, True, True))
        out += [
            Get(service, "/v1/dlq", True, False),
            Get(service, "/v1/dlq/{letter_id}", True, False),
        ]
    return out


_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
# Path parameters named otherwise than the payload field that holds their values.
_ALIASES = {"request_id": "case_id", "letter_id": "id"}


def values_in(texts: Iterable[str], names: set[str]) -> dict[str, set[str]]:
    """Values of the JSON fields called `names` in the messages (the ids to call with)."""
    found: dict[str, set[str]] = {n: set() for n in names}

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                if k in found and isinstance(v, str | int) and not isinstance(v, bool):
                    found[k].add(str(v))
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for text in texts:
        for value in _json_values(text):
            walk(value)
    return found


def _fiscal_years(now: datetime) -> set[str]:
    # Thai fiscal years (B.E.) start on 1 October.
    current = now.year + 543 + (1 if now.month >= 10 else 0)
    return {str(current), str(current - 1)}


async def api_answers(
    clients: Mapping[str, httpx.AsyncClient],
    urls: Mapping[str, str],
    routes: Sequence[Get],
    identities: Mapping[str, dict[str, str]],
    values: Mapping[str, set[str]],
    links: Set[str] = frozenset(),
    *,
    concurrency: int = 16,
    max_calls: int = 20_000,
    each: Callable[[str, str], object] = lambda where, text: None,
) -> tuple[list[tuple[str, str]], Counter[str]]:
    """(where, text) of every answer; and how many calls answered with each status.

    `clients` holds the client each service is called with (in the scan, one client over
    `ThreadedTransport` for all; a test may give each service an in-process one). `each` is
    called with every answer as it comes, so the matching runs while the services work on
    the next calls."""
    gate = asyncio.Semaphore(concurrency)
    answers: list[tuple[str, str]] = []
    statuses: Counter[str] = Counter()
    per_route: list[list[tuple[str, str, str, dict[str, str]]]] = []
    for route in routes:
        who = [n for n in identities if (n == "anonymous" and route.anonymous) or
               (n == "auditor" and route.auditor)]  # fmt: skip
        paths = _listed(route.path, links) or _expand(route.path, values)
        per_route.append(
            [(route.service, path, name, identities[name]) for path in paths for name in who]
        )
    # The routes with few paths first: they are the reports and pages rendered whole (slow,
    # and one at a time in their service), which then run beside the thousands of case
    # pages instead of after them.
    calls = [call for group in sorted(per_route, key=len) for call in group]
    for route in routes:  # Open311 lists answer for named requests, 100 at a time
        if route.path.endswith("/requests.{format}"):
            ids = sorted(values.get("case_id", ()))
            for i in range(0, len(ids), 100):
                q = quote(",".join(ids[i : i + 100]))
                path = route.path.replace("{format}", "json") + f"?service_request_id={q}"
                calls += [(route.service, path, "anonymous", identities["anonymous"])]

    async def call(service: str, path: str, name: str, headers: dict[str, str]) -> None:
        async with gate:
            r = await get_again_if_dropped(
                clients[service], urls[service].rstrip("/") + path, headers
            )
        statuses[str(r.status_code)] += 1
        if r.status_code < 400 and r.headers.get("content-type", "").startswith(
            ("application/json", "text/")
        ):
            answers.append((where := f"GET {service}{path} ({name})", r.text))
            each(where, r.text)

    await asyncio.gather(*(call(*c) for c in calls[:max_calls]))
    return answers, statuses


async def get_again_if_dropped(
    client: httpx.AsyncClient, url: str, headers: Mapping[str, str]
) -> httpx.Response:
    """A GET, sent once more if the connection it went out on was closed before any answer.

    A service closes a keep-alive connection after 5 s without a request; a request already
    on its way over that connection is dropped unanswered (the longer the service's loop was
    busy, a report being drawn, the likelier). A GET changes nothing, so sending it again is
    what browsers and HTTP libraries do."""
    try:
        return await client.get(url, headers=headers)
    except (httpx.ReadError, httpx.RemoteProtocolError):
        return await client.get(url, headers=headers)


class ThreadedTransport(httpx.AsyncBaseTransport):
    """httpx's requests sent by the standard library's `http.client`, in a few threads,
    each keeping one connection open per service.

    The scan makes thousands of small GETs; httpx's own pool looks over every pooled
    connection (and asks each socket for its state) on every request, which cost the scan
    more CPU than the services spent answering. A connection that fails is closed and the
    failure raised as httpx's, so that `get_again_if_dropped` decides about sending again."""

    # A service closes a connection after 5 s without a request (uvicorn's keep-alive);
    # one idle for longer than this is not reused, so that a GET does not go out on it.
    IDLE = 2.0

    def __init__(self, threads: int = 4, timeout: float = 30.0) -> None:
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="pii-scan-http")
        self._local = threading.local()
        self._timeout = timeout
        self._opened: set[http.client.HTTPConnection] = set()

    def _send(
        self,
        method: str,
        host: str,
        port: int,
        target: str,
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conns: dict[tuple[str, int], tuple[http.client.HTTPConnection, float]]
        conns = self._local.__dict__.setdefault("conns", {})
        conn, last = conns.get((host, port), (None, 0.0))
        if conn is not None and time.monotonic() - last > self.IDLE:
            self._close(conns.pop((host, port))[0])
            conn = None
        if conn is None:
            conn = http.client.HTTPConnection(host, port, self._timeout)
            self._opened.add(conn)
        try:
            conn.request(method, target, body or None, headers)
            r = conn.getresponse()
            answer = r.read()
        except BaseException:
            conns.pop((host, port), None)
            self._close(conn)
            raise
        if r.will_close:
            conns.pop((host, port), None)
            self._close(conn)
        else:
            conns[(host, port)] = (conn, time.monotonic())
        return r.status, r.getheaders(), answer

    def _close(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        self._opened.discard(conn)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"{url.scheme}: only http", request=request)
        port = url.port or 80
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.raw}
        target = url.raw_path.decode("ascii")
        body = await request.aread()
        send = functools.partial(self._send, request.method, url.host, port, target, headers, body)
        try:
            status, got, content = await asyncio.get_running_loop().run_in_executor(
                self._threads, send
            )
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from exc
        except (http.client.RemoteDisconnected, http.client.BadStatusLine) as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except (ConnectionResetError, BrokenPipeError, http.client.IncompleteRead) as exc:
            raise httpx.ReadError(str(exc), request=request) from exc
        except http.client.HTTPException as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        return httpx.Response(status, headers=got, content=content, request=request)

    async def aclose(self) -> None:
        self._threads.shutdown(wait=True)
        for conn in list(self._opened):
            self._close(conn)


# A path a list answer gives (insight's /v1/reports names each published report).
_LINK = re.compile(r"(/v1/[A-Za-z0-9_./\-]+)")


def _listed(path: str, links: Set[str]) -> list[str]:
    """The links a list gave that `path` (of two parameters or more) serves: what is
    published is read, rather than every combination of every value seen (for insight's
    reports, fiscal years × quarters × departments, most of them of no case at all)."""
    if len(_PARAM.findall(path)) < 2:
        return []
    parts = _PARAM.split(path)  # text, parameter name, text, ...
    pattern = re.compile(
        "".join(re.escape(t) if i % 2 == 0 else "[^/]+" for i, t in enumerate(parts)) + "$"
    )
    return sorted(link for link in links if pattern.match(link))


def _expand(path: str, values: Mapping[str, set[str]]) -> list[str]:
    params = _PARAM.findall(path)
    paths = [path]
    for p in params:
        if p == "format":
            options = {"json"}
        else:
            options = values.get(_ALIASES.get(p, p), set()) | values.get(p, set())
        if not options:
            return []  # nothing to call it with
        paths = [
            re.sub(r"\{" + p + r"(?::\w+)?\}", quote(str(v), safe=""), q)
            for q in paths
            for v in sorted(options)
        ]
    return paths


async def sign_in(client: httpx.AsyncClient, issuer: str, username: str) -> dict[str, str]:
    """An access token of the built-in issuer's demo account (docs/auth.md); or the one
    in RUAM_SCAN_TOKEN, for an identity provider of the SAO's own."""
    given = os.environ.get("RUAM_SCAN_TOKEN")
    if given:
        return {"Authorization": f"Bearer {given}"}
    return await Accounts.of(client, issuer).headers(username)


# --------------------------------------------------------------------------- the run


@dataclass
class Report:
    needles: Needles
    topics: dict[str, int] = field(default_factory=dict)  # messages read per topic
    answers: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    hits: list[Hit] = field(default_factory=list)

    def line(self) -> str:
        looked = (
            f"{sum(self.topics.values())} messages on {len(self.topics)} topics and "
            f"{self.answers} API answers (auditor, anonymous)"
        )
        wanted = ", ".join(f"{n} {k}s" for k, n in self.needles.counts().items() if n)
        if not self.hits:
            return f"pii scan: none of the input's {wanted} in {looked}"
        by_kind = Counter(h.kind for h in self.hits)
        found = ", ".join(f"{n} × {k}" for k, n in by_kind.most_common())
        return f"pii scan: FOUND {found} from the input in {looked}"

    def details(self, limit: int = 25) -> list[str]:
        where = Counter((h.kind, h.where.split(" (")[0].split("?")[0]) for h in self.hits)
        lines = [f"  {n:>5} × {kind:<12} {place}" for (kind, place), n in where.most_common(limit)]
        examples = {h.kind: h for h in self.hits}
        lines += [f"  e.g. {h.kind}: {h.masked()} in {h.where}" for h in examples.values()]
        return lines


async def scan(
    needles: Needles,
    *,
    bootstrap: str,
    prefix: str,
    urls: Mapping[str, str],
    issuer: str,
    auditor: str = "auditor",
) -> Report:
    report = Report(needles)
    topics = await read_topics(bootstrap, prefix)
    names = {p for g in readable_routes() for p in _PARAM.findall(g.path)}
    names |= {_ALIASES.get(n, n) for n in names}
    values = values_in((t for texts in topics.values() for t in texts), names)
    values.setdefault("fiscal_year", set()).update(_fiscal_years(datetime.now(UTC)))

    def answer(where: str, text: str) -> None:
        report.answers += 1
        report.hits += find(needles, text, where)

    async def messages() -> None:
        # Matched while the services answer the calls, a few hundred at a time.
        for topic, texts in topics.items():
            report.topics[topic] = len(texts)
            for n, text in enumerate(texts):
                report.hits += find(needles, text, f"{topic} #{n}")
                if n % 200 == 199:
                    await asyncio.sleep(0)

    # A report drawn whole can take seconds: the transport's 30 s is the timeout that applies.
    async with httpx.AsyncClient(transport=ThreadedTransport(timeout=30.0)) as client:
        clients = dict.fromkeys(urls, client)
        matching = asyncio.create_task(messages())
        identities = {
            "anonymous": {},
            "auditor": await sign_in(client, issuer, auditor),
        }
        routes = readable_routes()
        # Lists first: the ids they show (dead letters, campaigns) are what the rest is
        # called with.
        flat = [r for r in routes if not _PARAM.findall(r.path.replace("{format}", ""))]
        first, statuses = await api_answers(clients, urls, flat, identities, values, each=answer)
        listed = values_in((text for _, text in first), {"id", *names})
        for k, v in listed.items():
            values.setdefault(k, set()).update(v)
        deep = [r for r in routes if r not in flat]
        links = {link for _, text in first for link in _LINK.findall(text)}
        _, more = await api_answers(clients, urls, deep, identities, values, links, each=answer)
        await matching
    report.statuses = statuses + more
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.pii_scan", description=__doc__)
    parser.add_argument("--profile", default="local", help="the stack `make demo` ran on")
    parser.add_argument("--data", help="the CSV the demo replayed (default: as the demo)")
    parser.add_argument("--prefix", default=os.environ.get("RUAM_TOPIC_PREFIX", ""))
    args = parser.parse_args(argv)

    from deploy.local import stack
    from tools.demo import traffy

    profile = stack.get_profile(args.profile)
    if args.data:
        reports = traffy.load(Path(args.data))
    else:
        path = traffy.default_path()
        reports = traffy.load(path) if path.exists() else traffy.sample()
    needles = demo_input(reports)
    urls = {s: f"http://127.0.0.1:{profile.port_of(s)}" for s in STAGES}
    issuer = os.environ.get("RUAM_OIDC_ISSUER") or urls["routing"] + "/oidc"
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or profile.kafka_bootstrap
    try:
        report = asyncio.run(
            scan(needles, bootstrap=bootstrap, prefix=args.prefix, urls=urls, issuer=issuer)
        )
    except (httpx.HTTPError, OSError, TimeoutError) as exc:
        print(f"pii scan: could not scan ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2
    print(report.line(), flush=True)
    if report.hits:
        print("\n".join(report.details()), flush=True)
    return 1 if report.hits else 0


# The services whose answers are scanned: the four APIs and the public website.
STAGES = ("intake", "routing", "survey", "compliance", "portal", "insight")


if __name__ == "__main__":
    raise SystemExit(main())
