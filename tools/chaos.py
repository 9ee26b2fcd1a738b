"""`make chaos`: nothing lost, nothing doubled, while processes, the broker and the database fail.

On a stack of its own (profile `chaos`: Kafka 29092, FerretDB 27019, services 8201-8204,
`.run/chaos`), so that killing the broker or the database hurts nobody else:
  1. starts Kafka and FerretDB afresh and the four services as separate processes, on a
     database and topic prefix of the run's own, from a copy of `services/` and `shared/`
     taken at the start (a restart mid-run must not pick up someone's half-saved edit);
  2. drives --events mixed events at --rate per second: every channel intake accepts
     (web JSON, Open311 forms, signed LINE webhooks with follow-ups, e-mail, phone,
     letters, suggestion-box CSV, meeting minutes, raw payloads on intake.raw), officer
     actions on routing, answers to the surveys of resolved cases and to a campaign,
     compliance project events on project.events (out of order and repeated) and over
     HTTP, cases whose reply deadline falls due during the run (routing's timer loop
     escalates them), and a handful of poisoned inputs whose dead letters are expected;
  3. meanwhile SIGKILLs each service --kills times at random moments (restarted at once),
     SIGKILLs and restarts the broker once and the database once, and stops the database
     for --outage seconds;
  4. waits (bounded) for consumer lag 0 on every group and for every outbox marker to be
     gone, then checks that every accepted submission is exactly one case, every 2xx
     officer action took effect exactly once, survey aggregates equal a recount of the
     stored responses, compliance's projects equal a replay of project.events through
     compliance's own handlers in this process, the dead letters are exactly the poisoned
     inputs, and no case is stuck unassigned.
It prints a table and writes bench-results/chaos-<timestamp>.json; the exit status is 1 if
anything was lost or doubled or any other check failed.

A run of 10,000 events takes about 17 minutes on the shared 2-core machine (12 events/s is
what the whole pipeline sustains there with the faults on top); --deadline bounds it. Not
part of `make test`. docs/chaos.md says what each check means and what the runs found.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import contextlib
import copy
import hashlib
import hmac
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pymongo import AsyncMongoClient

from deploy.local import stack
from tools.accounts import Accounts, SignInRefused

REPO = Path(__file__).resolve().parents[1]
ORG = "sraphonthong"
# The console carries no events: nothing to lose. Insight is not in the run yet: nothing
# here checks its figures (tests/insight/integration kills it mid-stream and compares them
# with a recount), and the run's two cores are already what the pipeline sustains.
SERVICES = tuple(s for s in stack.BUS_SERVICES if s != "insight")
LINE_SECRET = "chaos-line-channel-secret"
OPEN311_KEY = "chaos-open311-key"
CAMPAIGN = "general-2570"
BANGKOK = timedelta(hours=7)  # Thailand keeps no daylight saving time
# Retrying one request (a fault lasts up to the outage plus a restart).
REQUEST_PATIENCE = 240.0
# Unassigned accepted cases above which new submissions wait: the rate must be one the
# pipeline sustains, or the run measures a queue instead of the faults.
MAX_BACKLOG = 200

TEXTS = (
    "ถนนชำรุดเป็นหลุมลึก หมู่ที่ {v} รถจักรยานยนต์ล้มบ่อย ขอให้ซ่อมด่วน",
    "ไฟฟ้าส่องสว่างดับทั้งซอย หมู่ที่ {v} กลางคืนมืดมาก",
    "ท่อระบายน้ำอุดตัน น้ำท่วมขังหน้าตลาด หมู่ที่ {v}",
    "ขยะไม่มีคนเก็บมาสามวันแล้ว ส่งกลิ่นเหม็น หมู่ที่ {v}",
    "น้ำประปาไม่ไหลตั้งแต่เมื่อวาน หมู่ที่ {v}",
    "กิ่งไม้ใหญ่หักขวางถนน หมู่ที่ {v} รถผ่านไม่ได้",
    "สุนัขจรจัดไล่กัดเด็กนักเรียน หมู่ที่ {v}",
    "เสียงดังจากโรงงานตอนกลางคืน หมู่ที่ {v} นอนไม่หลับ",
    "ขอให้พ่นยุงลาย มีคนเป็นไข้เลือดออก หมู่ที่ {v}",
    "เบี้ยยังชีพผู้สูงอายุยังไม่ได้รับเงิน หมู่ที่ {v}",
)
OPINIONS = (
    "อยากให้มีไฟส่องสว่างเพิ่มที่ทางเข้าหมู่บ้าน",
    "ควรขุดลอกคลองก่อนฤดูฝน",
    "ขอให้จัดตลาดนัดชุมชนทุกเดือน",
    "อยากให้มีลานกีฬาสำหรับเยาวชน",
)
SERVICE_CODES = ("road", "lighting", "drainage", "cleanliness", "tree", "water_supply")
KINDS = ("complaint",) * 6 + ("suggestion", "question", "compliment")
OFFICER_DESK = "desk"
OPERATOR = "operator"
SIGNING_KEY = (
    ec.generate_private_key(ec.SECP256R1())
    .private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    .decode()
)
READER = "palad"  # the ปลัด reads every case and survey status

# What the driver draws, by weight; a box or meeting draw is a batch of several events.
MIX: dict[str, float] = {
    "web": 11,
    "timer": 1,
    "open311": 9,
    "line": 6,
    "line_followup": 2,
    "email": 6,
    "phone": 5,
    "letter": 4,
    "box": 5,
    "meeting": 4,
    "raw": 5,
    "action": 28,
    # Modest: each needs a resolved case, and while survey recounted every slice from all
    # stored responses per answer (before ba620d5), 1,200 answers left it an hour behind.
    "survey": 2,
    "campaign": 0.5,
    "project_kafka": 5,
    "project_http": 4,
}


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def log(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# ----------------------------------------------------------------------- the ledger


@dataclass
class Sent:
    """One submission (or one item of a batch): what was sent and what came back."""

    kind: str  # the generator: web, open311, line, ..., raw, timer
    channel: str  # the channel intake files it under
    mid: str  # channel message id: with the channel, intake's dedup key
    status: str = "sending"  # accepted | refused | unknown
    case_id: str | None = None
    sent_at: float = field(default_factory=time.monotonic)
    accepted_at: float | None = None
    detail: str = ""


@dataclass
class FollowUp:
    """A LINE message that continued a conversation: an amendment of the case it opened."""

    event_id: str
    case_id: str
    status: str = "accepted"


@dataclass
class Action:
    case_id: str
    action: str
    command_id: str
    note: str
    status: str = "sending"  # applied | not_allowed | refused | unknown
    code: int = 0


@dataclass
class Answer:
    case_id: str
    response_id: str
    fixed: str
    status: str = "sending"  # accepted | refused | unknown


@dataclass
class CampaignAnswer:
    ref: str
    status: str = "sending"


@dataclass
class ProjectCall:
    project_id: str
    event_key: str
    what: str
    status: str = "sending"  # applied | not_allowed | refused | unknown
    code: int = 0


@dataclass
class Poison:
    service: str
    topic: str
    what: str
    body: bytes
    sent: bool = False

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass
class Fault:
    name: str
    target: str
    at: float  # monotonic, when it was injected
    restored: float | None = None  # the process was started again
    healthy: float | None = None  # every service answered /healthz again
    error: str | None = None


@dataclass
class CaseState:
    """What the driver believes of a case it acts on (routing has the truth)."""

    case_id: str
    officer: str
    status: str = "assigned"
    busy: bool = False
    touched: bool = False


@dataclass
class SurveyWait:
    case_id: str
    ready_at: float
    tries: int = 0


@dataclass
class ProjectPlan:
    """A project fed by its planning system: versions 1..n, sent in (mostly) that order."""

    project_id: str
    events: list[bytes]
    next: int = 0
    held: bytes | None = None  # a version sent after its successor


@dataclass
class HttpProject:
    project_id: str
    steps: list[dict[str, Any]]
    next: int = 0
    registered: bool = False
    busy: bool = False


# ----------------------------------------------------------------------- the code under test


def snapshot_code(run_dir: Path, run: str) -> Path:
    """Copy services/ and shared/; the services and this process's checks import that copy."""
    root = run_dir / "src"
    if root.exists():
        shutil.rmtree(root, ignore_errors=True)
    target = root / run
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("services", "shared"):
        shutil.copytree(REPO / package, target / package, ignore=ignore)
    return target


def use_code(src: Path) -> None:
    """Import the project's modules from `src` from now on. The few already imported (the
    stack's own: shared.bus and shared.topics, which name the broker's users and ACLs) must
    be exactly what the snapshot holds."""
    loaded = {
        name: module
        for name, module in sys.modules.items()
        if name.split(".")[0] in ("services", "shared")
    }
    for name, module in loaded.items():
        path = Path(getattr(module, "__file__", "") or "")
        if path.is_file() and path.suffix == ".py":
            copy = src / path.relative_to(REPO)
            if not copy.is_file() or copy.read_bytes() != path.read_bytes():
                raise RuntimeError(f"{name} was imported before the snapshot and differs from it")
    sys.path.insert(0, str(src))


def kafka_client() -> dict[str, Any]:
    """The tools' Kafka credentials (the stack's admin), from the code under test."""
    from shared.kafka import client_options

    return client_options()


def topic(prefix: str, name: str) -> str:
    from shared.topics import Topic
    from shared.topics import name as topic_name

    return topic_name(Topic(name), prefix)


# ----------------------------------------------------------------------- the processes


class Services:
    """The four services of the run, each its own process group (bench's way)."""

    def __init__(self, profile: stack.Profile, src: Path, env: dict[str, str]) -> None:
        self.profile = profile
        self.src = src
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.crashes: list[dict[str, Any]] = []
        self._killing: set[str] = set()

    def url(self, svc: str, path: str) -> str:
        return self.profile.service_url(svc, path)

    def spawn(self, svc: str) -> None:
        self.profile.logs_dir.mkdir(parents=True, exist_ok=True)
        with self.profile.log_file(svc).open("ab") as out:
            out.write(f"\n===== {time.strftime('%F %T')} chaos starts {svc}\n".encode())
            out.flush()
            self.procs[svc] = subprocess.Popen(
                [str(stack.service_python()), "-m", f"services.{svc}.main"],
                # Each as its own Kafka principal, held to its topics by the run's ACLs.
                env={**self.env, **stack.kafka_principal_env(svc)},
                cwd=self.src,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    async def healthy(self, client: httpx.AsyncClient, svc: str) -> bool:
        try:
            r = await client.get(self.url(svc, "/healthz"), timeout=2.0)
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    async def wait_healthy(
        self, client: httpx.AsyncClient, names: Iterable[str], timeout: float
    ) -> bool:
        deadline = time.monotonic() + timeout
        waiting = list(names)
        while waiting and time.monotonic() < deadline:
            waiting = [s for s in waiting if not await self.healthy(client, s)]
            if waiting:
                await asyncio.sleep(0.25)
        return not waiting

    async def kill(self, svc: str) -> None:
        proc = self.procs[svc]
        self._killing.add(svc)
        try:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
        finally:
            self._killing.discard(svc)

    async def watch(self, stop: asyncio.Event) -> None:
        """A service that exits by itself is a finding: note it and start it again."""
        while not stop.is_set():
            for svc, proc in list(self.procs.items()):
                if svc in self._killing or proc.poll() is None:
                    continue
                log(f"{svc} exited by itself (rc {proc.returncode}); starting it again")
                self.crashes.append({"service": svc, "rc": proc.returncode, "at": time.time()})
                self.spawn(svc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    async def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                await asyncio.to_thread(proc.wait, 20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await asyncio.to_thread(proc.wait)


class Watcher:
    """Follows case.assigned: when each case was first assigned, and to whom; and the survey
    invitations (survey.requested), the only place a citizen's survey token travels."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.topic = topic(prefix, "case.assigned")
        self.invitations = topic(prefix, "survey.requested")
        self.tokens: dict[str, str] = {}  # survey id -> token
        self.bootstrap = bootstrap
        self.assigned_at: dict[str, float] = {}
        self.officer: dict[str, str | None] = {}
        self.order: list[str] = []
        self.times: list[float] = []  # every case.assigned seen, in order
        self.consumer: AIOKafkaConsumer | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # No group: the watcher must not show up in the lag it waits for.
        self.consumer = AIOKafkaConsumer(
            self.topic,
            self.invitations,
            bootstrap_servers=self.bootstrap,
            **kafka_client(),
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await self.consumer.start()
        self.task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        assert self.consumer is not None
        while True:
            try:
                batch = await self.consumer.getmany(timeout_ms=500)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker restarts under it: keep reading
                log(f"watcher: {type(exc).__name__}: {exc}")
                await asyncio.sleep(1.0)
                continue
            now = time.monotonic()
            for records in batch.values():
                for record in records:
                    self._take(record, now)
                    if record.topic == self.topic:
                        self.times.append(now)

    def _take(self, record: ConsumerRecord[bytes, bytes], now: float) -> None:
        try:
            event = json.loads(record.value or b"{}")
            payload = event["payload"]
            case_id = payload["case_id"]
            if record.topic == self.invitations:
                self.tokens[str(payload["survey_id"])] = str(payload["token"])
                return
        except (ValueError, KeyError, TypeError):
            return
        if case_id not in self.assigned_at:
            self.assigned_at[case_id] = now
            self.order.append(case_id)
        self.officer[case_id] = payload.get("officer_id")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.consumer is not None:
            await self.consumer.stop()


class Producer:
    """Sends to Kafka until the broker takes it, through a broker restart."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self.failures = 0

    async def _fresh(self) -> AIOKafkaProducer:
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await self.producer.stop()
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            **kafka_client(),
            enable_idempotence=True,
            acks="all",
            request_timeout_ms=10_000,
        )
        await self.producer.start()
        return self.producer

    async def send(self, target: str, key: str, value: bytes, patience: float) -> bool:
        deadline = time.monotonic() + patience
        failures = 0
        while time.monotonic() < deadline:
            try:
                async with self._lock:
                    producer = self.producer or await self._fresh()
                await asyncio.wait_for(
                    producer.send_and_wait(target, value, key=key.encode()), timeout=30
                )
                return True
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                self.failures += 1
                if failures % 3 == 0:
                    # An idempotent producer can stay wedged after the broker lost its
                    # session; a new one starts clean (a repeat is absorbed downstream).
                    async with self._lock:
                        with contextlib.suppress(Exception):
                            await self._fresh()
                await asyncio.sleep(min(5.0, 0.5 * failures))
        return False

    async def stop(self) -> None:
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await self.producer.stop()


@dataclass
class Reply:
    status: int  # 0: no answer before we gave up
    body: Any
    headers: dict[str, str]
    ambiguous: bool  # an earlier attempt may have taken effect


class Signer:
    """The run's demo accounts (tools/accounts.py), signed in through routing's issuer."""

    def __init__(self, client: httpx.AsyncClient, services: Services) -> None:
        self.accounts = Accounts.of(client, services.url("routing", "/oidc"))

    async def headers(self, username: str) -> dict[str, str] | None:
        """None while the issuer cannot be reached (routing is down): the caller retries."""
        try:
            return await self.accounts.headers(username)
        except (httpx.HTTPError, SignInRefused):
            return None

    def forget(self, username: str) -> None:
        self.accounts.forget(username)


async def call(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    patience: float = REQUEST_PATIENCE,
    who: tuple[Signer, str] | None = None,
    **kwargs: Any,
) -> Reply:
    """One request, retried while the answer is "try again" (503), a 5xx or no answer; as
    the account `who` names, signed in again if its token is refused (a 401 after routing,
    the issuer, restarted with a token cached from before).

    Every request the driver sends is idempotent (channel message id, Idempotency-Key,
    command id, event id), so a retry is the same request, not a second one."""
    deadline = time.monotonic() + patience
    ambiguous = False
    attempt = 0
    extra = kwargs.pop("headers", None) or {}
    while True:
        attempt += 1
        signed = await who[0].headers(who[1]) if who is not None else {}
        try:
            if signed is None:
                raise httpx.ConnectError("the issuer cannot be reached")
            r = await client.request(method, url, headers={**extra, **signed}, **kwargs)
        except httpx.ConnectError:
            pass  # nothing reached the server
        except httpx.HTTPError:
            ambiguous = True  # sent, and the answer was lost
        else:
            if r.status_code == 401 and who is not None:
                who[0].forget(who[1])  # refused before anything was done: sign in again
            elif r.status_code < 500:
                try:
                    body: Any = r.json()
                except ValueError:
                    body = r.text
                return Reply(r.status_code, body, dict(r.headers), ambiguous)
            if r.status_code != 503:
                ambiguous = True  # a 500 may come after part of the work
        if time.monotonic() >= deadline:
            return Reply(0, None, {}, ambiguous)
        await asyncio.sleep(min(3.0, 0.2 * attempt) * random.uniform(0.7, 1.3))


# ----------------------------------------------------------------------- the workload


class Driver:
    """Generates the mix at the asked rate and keeps the ledger of every answer."""

    def __init__(
        self,
        args: argparse.Namespace,
        run: str,
        prefix: str,
        services: Services,
        client: httpx.AsyncClient,
        producer: Producer,
        watcher: Watcher,
        rng: random.Random,
    ) -> None:
        self.args = args
        self.run = run
        self.prefix = prefix
        self.services = services
        self.client = client
        self.accounts = Signer(client, services)
        self.producer = producer
        self.watcher = watcher
        self.rng = rng
        self.sent_events = 0
        self.counts: Counter[str] = Counter()
        self.submissions: list[Sent] = []
        self.followups: list[FollowUp] = []
        self.actions: list[Action] = []
        self.answers: list[Answer] = []
        self.campaign: list[CampaignAnswer] = []
        self.project_calls: list[ProjectCall] = []
        self.project_events_sent = 0
        self.project_events_acked = 0
        self.project_repeats = 0
        self.poisons: list[Poison] = []
        self.timer_due: dict[str, datetime] = {}  # case id -> reply deadline (during the run)
        self.cases: dict[str, CaseState] = {}
        self.case_kind: dict[str, str] = {}  # case id -> generator, for the cases we filed
        self.line_users: list[tuple[str, str, float]] = []  # (user, case id, at)
        self.survey_queue: list[SurveyWait] = []
        self.plans: list[ProjectPlan] = []
        self.http_projects: list[HttpProject] = []
        self.n = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.gate = asyncio.Semaphore(args.concurrency)
        self.unexpected: list[str] = []

    # -- bookkeeping -----------------------------------------------------------------

    def next_id(self) -> int:
        self.n += 1
        return self.n

    def text(self, tag: str) -> str:
        village = 1 + self.rng.randrange(10)
        return f"{self.rng.choice(TEXTS).format(v=village)} (ref {tag})"

    def backlog(self) -> int:
        return sum(
            1
            for s in self.submissions[-3000:]
            if s.status == "accepted"
            and s.case_id is not None
            and s.case_id not in self.watcher.assigned_at
        )

    def note_accepted(self, sent: Sent, case_id: str | None) -> None:
        sent.status = "accepted"
        sent.case_id = case_id
        sent.accepted_at = time.monotonic()
        if case_id is not None:
            self.case_kind.setdefault(case_id, sent.kind)

    def unanswered(self, items: list[Sent], reply: Reply) -> None:
        """Nothing usable came back: unknown if it may have been taken, else refused."""
        for item in items:
            if item.status != "sending":
                continue
            if reply.status == 0:
                item.status = "unknown"
                item.detail = "no answer within the retries"
            else:
                item.status = "refused"
                item.detail = f"{reply.status}: {str(reply.body)[:300]}"
                self.unexpected.append(f"{item.kind} {item.mid}: {item.detail}")

    # -- submissions -----------------------------------------------------------------

    async def web(self, timer: bool = False) -> None:
        n = self.next_id()
        mid = f"chaos-{self.run}-w{n}"
        body: dict[str, Any] = {
            "channel": "web",
            "kind": "complaint" if timer else self.rng.choice(KINDS),
            "text": self.text(mid),
            "contact": {"name": "ผู้แจ้ง ทดสอบ", "phone": f"08{self.rng.randrange(10**8):08d}"},
        }
        headers: dict[str, str] = {}
        if timer:
            # The reply deadline (15 days from receipt) falls due within minutes: routing's
            # timer loop, not the receipt, escalates it.
            due = now_utc() + timedelta(seconds=self.rng.uniform(30, 150))
            body["received_at"] = iso(due - timedelta(days=15))
            body["service_code"] = "road"
        if timer or self.rng.random() < 0.7:
            body["channel_message_id"] = mid
        else:
            headers["Idempotency-Key"] = mid
            mid = f"idem-{mid}"
        sent = Sent("timer" if timer else "web", "web", mid)
        self.submissions.append(sent)
        reply = await call(
            self.client,
            "POST",
            self.services.url("intake", "/v1/submissions"),
            json=body,
            headers=headers,
            # Only staff or a system may say when a web report was received.
            who=(self.accounts, OPERATOR) if timer else None,
        )
        if reply.status == 202 and isinstance(reply.body, dict):
            self.note_accepted(sent, reply.body.get("case_id"))
            if timer and sent.case_id:
                self.timer_due[sent.case_id] = due
        self.unanswered([sent], reply)

    async def open311(self) -> None:
        n = self.next_id()
        key = f"chaos-{self.run}-o{n}"
        form = {
            "api_key": OPEN311_KEY,
            "service_code": self.rng.choice(SERVICE_CODES),
            "description": self.text(key),
            "lat": f"{15.0 + self.rng.random() * 0.05:.6f}",
            "long": f"{103.0 + self.rng.random() * 0.05:.6f}",
            "first_name": "สมหญิง",
            "last_name": "ทดสอบ",
            "phone": f"09{self.rng.randrange(10**8):08d}",
        }
        sent = Sent("open311", "open311", key)
        self.submissions.append(sent)
        reply = await call(
            self.client,
            "POST",
            self.services.url("intake", "/open311/v2/requests.json"),
            data=form,
            headers={"Idempotency-Key": key},
        )
        if reply.status == 200 and isinstance(reply.body, list) and reply.body:
            self.note_accepted(sent, reply.body[0].get("service_request_id"))
        self.unanswered([sent], reply)

    def _line_body(self, user: str, event_id: str, text: str) -> tuple[bytes, str]:
        event = {
            "type": "message",
            "mode": "active",
            "timestamp": int(time.time() * 1000),
            "source": {"type": "user", "userId": user},
            "webhookEventId": event_id,
            "deliveryContext": {"isRedelivery": False},
            "replyToken": uuid.uuid4().hex,
            "message": {"id": event_id, "type": "text", "text": text},
        }
        body = json.dumps({"destination": "Uchaos", "events": [event]}, ensure_ascii=False).encode()
        signature = base64.b64encode(
            hmac.new(LINE_SECRET.encode(), body, hashlib.sha256).digest()
        ).decode()
        return body, signature

    async def _line_post(self, body: bytes, signature: str) -> Reply:
        return await call(
            self.client,
            "POST",
            self.services.url("intake", "/channels/line/webhook"),
            content=body,
            headers={"X-Line-Signature": signature, "Content-Type": "application/json"},
        )

    async def line(self) -> None:
        n = self.next_id()
        user = f"Uchaos{self.run}{n:07d}"
        event_id = f"chaos{self.run}L{n:07d}"
        sent = Sent("line", "line", event_id)
        self.submissions.append(sent)
        body, signature = self._line_body(user, event_id, self.text(event_id))
        reply = await self._line_post(body, signature)
        outcome = self._line_outcome(reply)
        if outcome is not None and outcome.get("case_id"):
            self.note_accepted(sent, outcome["case_id"])
            self.line_users.append((user, outcome["case_id"], time.monotonic()))
        elif outcome is not None and outcome.get("deferred"):
            # Kept on intake.raw during a fault: its case is found by its event id.
            self.note_accepted(sent, None)
        self.unanswered([sent], reply)

    def _line_outcome(self, reply: Reply) -> dict[str, Any] | None:
        if reply.status != 200 or not isinstance(reply.body, dict):
            return None
        events = reply.body.get("events") or []
        return events[0] if events and isinstance(events[0], dict) else None

    async def line_followup(self) -> bool:
        # A follow-up within LINE's 10-minute window is added to the case it continues.
        fresh = [u for u in self.line_users if time.monotonic() - u[2] < 300]
        if not fresh:
            return False
        user, case_id, _ = self.rng.choice(fresh)
        n = self.next_id()
        event_id = f"chaos{self.run}F{n:07d}"
        body, signature = self._line_body(user, event_id, f"ส่งรูปเพิ่มเติม ยังไม่ได้แก้ไข ({n})")
        reply = await self._line_post(body, signature)
        outcome = self._line_outcome(reply)
        if outcome is not None and outcome.get("case_id"):
            if outcome["case_id"] == case_id:
                self.followups.append(FollowUp(event_id, case_id))
            else:  # the window had passed: a matter of its own
                sent = Sent("line", "line", event_id)
                self.submissions.append(sent)
                self.note_accepted(sent, outcome["case_id"])
        elif outcome is not None and outcome.get("deferred"):
            # Taken from intake.raw once the fault passes, within the conversation's window.
            self.followups.append(FollowUp(event_id, case_id))
        elif reply.status == 0:
            self.followups.append(FollowUp(event_id, case_id, status="unknown"))
        else:
            self.unexpected.append(f"line follow-up {event_id}: {reply.status} {reply.body}")
            self.followups.append(FollowUp(event_id, case_id, status="refused"))
        return True

    async def email(self) -> None:
        n = self.next_id()
        mid = f"chaos-{self.run}-m{n}@mail.example"
        msg = EmailMessage()
        msg["From"] = f"ผู้แจ้ง <citizen{n}@mail.example>"
        msg["To"] = "saraban@sraphonthong.go.th"
        msg["Subject"] = "แจ้งปัญหา"
        msg["Date"] = format_datetime(now_utc())
        msg["Message-ID"] = f"<{mid}>"
        msg.set_content(self.text(mid))
        # The case knows a mail by a hash of its Message-ID (which names the sender).
        from services.intake.channels.email import message_ref

        sent = Sent("email", "email", message_ref(mid))
        self.submissions.append(sent)
        reply = await call(
            self.client,
            "POST",
            self.services.url("intake", "/v1/channels/email"),
            content=msg.as_bytes(),
            headers={"Content-Type": "message/rfc822"},
            who=(self.accounts, OPERATOR),  # the mail gateway's service account
        )
        if reply.status == 202 and isinstance(reply.body, dict):
            self.note_accepted(sent, reply.body.get("case_id"))
        self.unanswered([sent], reply)

    async def phone(self) -> None:
        n = self.next_id()
        mid = f"chaos-{self.run}-p{n}"
        body = {
            "call_id": mid,
            "caller_number": f"08{self.rng.randrange(10**8):08d}",
            "caller_name": "ผู้โทร ทดสอบ",
            "officer_id": OFFICER_DESK,
            "call_time": iso(now_utc() - timedelta(minutes=2)),
            "summary": self.text(mid),
        }
        await self._record("phone", mid, "/v1/channels/phone", body)

    async def letter(self) -> None:
        n = self.next_id()
        mid = f"chaos-{self.run}-r{n}"
        body = {
            "registration_no": mid,
            "received_date": iso(now_utc() - timedelta(hours=1)),
            "sender_name": "ผู้ส่ง ทดสอบ",
            "sender_address": "12 หมู่ 3 ตำบลสระโพนทอง",
            "text": self.text(mid),
        }
        await self._record("letter", mid, "/v1/channels/letter", body)

    async def _record(self, kind: str, mid: str, path: str, body: dict[str, Any]) -> None:
        sent = Sent(kind, kind, mid)
        self.submissions.append(sent)
        reply = await call(
            self.client,
            "POST",
            self.services.url("intake", path),
            json=body,
            who=(self.accounts, OFFICER_DESK),  # the clerk types it in
        )
        if reply.status == 202 and isinstance(reply.body, dict):
            self.note_accepted(sent, reply.body.get("case_id"))
        self.unanswered([sent], reply)

    async def box(self, slips: int) -> None:
        n = self.next_id()
        box_id = f"chaos-{self.run}-b{n}"
        opened = (now_utc() - timedelta(minutes=10)).replace(second=0, microsecond=0)
        session = f"{box_id}@{opened + BANGKOK:%Y%m%dT%H%M}"
        rows = ["slip_no,text,village_no"]
        items = []
        for no in range(1, slips + 1):
            rows.append(f'{no},"{self.text(f"{session}/{no}")}",{1 + self.rng.randrange(10)}')
            items.append(Sent("box", "suggestion_box", f"{session}/{no}"))
        self.submissions.extend(items)
        reply = await call(
            self.client,
            "POST",
            self.services.url("intake", "/v1/channels/suggestion-box"),
            params={
                "box_id": box_id,
                "location": "หน้าที่ทำการ อบต.",
                "opened_at": iso(opened),
                "committee": "กรรมการ ก,กรรมการ ข",
            },
            content="\n".join(rows).encode(),
            headers={"Content-Type": "text/csv"},
            who=(self.accounts, OFFICER_DESK),
        )
        self._batch(items, reply)

    async def meeting(self, opinions: int) -> None:
        n = self.next_id()
        activity = f"chaos-{self.run}-a{n}"
        body = {
            "activity_id": activity,
            "title": "ประชาคมหมู่บ้าน",
            "held_at": iso(now_utc() - timedelta(hours=2)),
            "village_no": 1 + self.rng.randrange(10),
            "attendees": {"ประชาชน": 20 + self.rng.randrange(40)},
            "opinions": [
                {"no": no, "text": f"{self.rng.choice(OPINIONS)} ({activity}/{no})"}
                for no in range(1, opinions + 1)
            ],
        }
        items = [Sent("meeting", "meeting", f"{activity}/{no}") for no in range(1, opinions + 1)]
        self.submissions.extend(items)
        reply = await call(
            self.client,
            "POST",
            self.services.url("intake", "/v1/channels/meeting"),
            json=body,
            who=(self.accounts, OFFICER_DESK),
        )
        self._batch(items, reply)

    def _batch(self, items: list[Sent], reply: Reply) -> None:
        if reply.status == 202 and isinstance(reply.body, dict):
            by_id = {str(o.get("id")): o for o in reply.body.get("items", [])}
            for item in items:
                outcome = by_id.get(item.mid)
                if outcome is not None and outcome.get("case_id"):
                    self.note_accepted(item, outcome["case_id"])
                elif outcome is not None:
                    item.status = "refused"
                    item.detail = str(outcome.get("refused"))
                    self.unexpected.append(f"{item.kind} {item.mid}: {item.detail}")
        self.unanswered(items, reply)

    async def raw(self) -> None:
        from shared.events.intake import RawPayloadReceived, RawPayloadReceivedPayload

        n = self.next_id()
        mid = f"chaos-{self.run}-k{n}"
        body = json.dumps({"kind": "complaint", "text": self.text(mid)}, ensure_ascii=False)
        event = RawPayloadReceived(
            org_id=ORG,
            payload=RawPayloadReceivedPayload(
                channel="web", received_at=now_utc(), body=body, channel_message_id=mid
            ),
        )
        sent = Sent("raw", "web", mid)
        self.submissions.append(sent)
        if await self.producer.send(
            topic(self.prefix, "intake.raw"), mid, event.to_bytes(), REQUEST_PATIENCE
        ):
            self.note_accepted(sent, None)
        else:
            sent.status = "unknown"

    # -- officer actions -------------------------------------------------------------

    def _pick_case(self) -> CaseState | None:
        settled = time.monotonic() - 2.0  # our answer to its submission has come back by now
        for case_id in self.watcher.order[len(self.cases) :]:
            if self.watcher.assigned_at[case_id] > settled:
                break
            kind = self.case_kind.get(case_id)
            officer = self.watcher.officer.get(case_id)
            # Our own filings only (not the platform's improvement actions), not the
            # cases whose deadline timers are watched, and only with an owner.
            if kind is None or kind == "timer" or officer is None:
                self.cases[case_id] = CaseState(case_id, "", status="skip")
                continue
            self.cases[case_id] = CaseState(case_id, officer)
        open_ = [
            c for c in self.cases.values() if not c.busy and c.status not in ("skip", "closed")
        ]
        if not open_:
            return None
        touched = [c for c in open_ if c.touched]
        pool = touched if touched and self.rng.random() < 0.7 else open_
        return self.rng.choice(pool)

    def _next_action(self, state: CaseState) -> str:
        choices: dict[str, tuple[tuple[str, float], ...]] = {
            "assigned": (("acknowledge", 6), ("start", 2), ("note", 1.5), ("request_info", 0.5),
                         ("close", 0.3)),
            "acknowledged": (("start", 6), ("note", 2), ("resolve", 2)),
            "in_progress": (("resolve", 5), ("note", 4), ("request_info", 1)),
            "pending_citizen": (("start", 7), ("note", 3)),
            "reopened": (("acknowledge", 5), ("start", 4), ("note", 1)),
            "resolved": (("close", 3), ("note", 1)),
        }  # fmt: skip
        table = choices.get(state.status, (("note", 1),))
        names, weights = zip(*table, strict=True)
        return str(self.rng.choices(names, weights)[0])

    async def action(self) -> bool:
        state = self._pick_case()
        if state is None:
            return False
        state.busy = True
        state.touched = True
        try:
            name = self._next_action(state)
            n = self.next_id()
            command_id = f"chaos-{self.run}-c{n}"
            note = f"chaos {name} {command_id}"
            params = {"note": note}
            if name == "resolve":
                params["resolution"] = note
            act = Action(state.case_id, name, command_id, note)
            self.actions.append(act)
            reply = await call(
                self.client,
                "POST",
                self.services.url("routing", f"/v1/cases/{state.case_id}/actions"),
                json={
                    "action": name,
                    "officer_id": state.officer,
                    "params": params,
                    "command_id": command_id,
                },
                who=(self.accounts, state.officer),  # the case's own officer
            )
            act.code = reply.status
            if reply.status == 200 and isinstance(reply.body, dict):
                act.status = "applied"
                state.status = str(reply.body.get("status") or state.status)
                if name == "resolve":
                    self.survey_queue.append(SurveyWait(state.case_id, time.monotonic() + 3))
            elif reply.status == 409:
                act.status = "not_allowed"
                await self._refresh(state)
            elif reply.status == 0:
                act.status = "unknown"
                await self._refresh(state)
            else:
                act.status = "refused"
                self.unexpected.append(f"action {command_id}: {reply.status} {reply.body}")
        finally:
            state.busy = False
        return True

    async def _refresh(self, state: CaseState) -> None:
        reply = await call(
            self.client,
            "GET",
            self.services.url("routing", f"/v1/cases/{state.case_id}"),
            patience=30,
            who=(self.accounts, READER),
        )
        if reply.status == 200 and isinstance(reply.body, dict):
            state.status = str(reply.body.get("status") or state.status)

    # -- survey ----------------------------------------------------------------------

    async def survey(self) -> bool:
        now = time.monotonic()
        ready = [w for w in self.survey_queue if w.ready_at <= now]
        if not ready:
            return False
        wait = self.rng.choice(ready)
        self.survey_queue.remove(wait)
        reply = await call(
            self.client,
            "GET",
            self.services.url("survey", "/v1/surveys"),
            params={"case_id": wait.case_id},
            patience=60,
            who=(self.accounts, READER),
        )
        items = reply.body.get("items", []) if isinstance(reply.body, dict) else []
        open_ = [i for i in items if i.get("status") == "open"]
        # The token is the citizen's: it reaches us, as it would them, in the invitation.
        invited = [i for i in open_ if str(i.get("survey_id")) in self.watcher.tokens]
        if not invited:
            if (not items or open_) and wait.tries < 30:  # still on its way
                wait.tries += 1
                wait.ready_at = now + 5
                self.survey_queue.append(wait)
            return False
        item = max(invited, key=lambda i: str(i.get("survey_id")))
        survey_id = str(item["survey_id"])
        token = self.watcher.tokens[survey_id]
        base = self.rng.choices((5, 4, 3, 2, 1), weights=(30, 35, 18, 10, 7))[0]
        fixed = "no" if self.rng.random() < 0.15 else self.rng.choice(("yes",) * 6 + ("dont_know",))
        answers: dict[str, Any] = {
            q: max(1, min(5, base + self.rng.choice((-1, 0, 0, 1))))
            for q in ("process", "channels", "staff", "facilities", "quality")
        }
        answers["fixed"] = fixed
        answers["comment"] = f"chaos {survey_id}"
        answer = Answer(wait.case_id, "rsp-" + survey_id.removeprefix("svy-"), fixed)
        self.answers.append(answer)
        reply = await call(
            self.client,
            "POST",
            self.services.url("survey", f"/v1/surveys/{token}/responses"),
            json={"answers": answers},
        )
        if reply.status == 201 or (reply.status == 409 and reply.ambiguous):
            answer.status = "accepted"
            if fixed == "no":
                state = self.cases.get(wait.case_id)
                if state is not None:
                    state.status = "reopened"
        elif reply.status == 0:
            answer.status = "unknown"
        else:
            answer.status = "refused"
            self.unexpected.append(f"survey {survey_id}: {reply.status} {reply.body}")
        return True

    async def campaign_answer(self) -> None:
        ref = f"chaos-{self.run}-s{self.next_id()}"
        answer = CampaignAnswer(ref)
        self.campaign.append(answer)
        answers: dict[str, Any] = {"respondent": self.rng.choice(("service_user", "stakeholder"))}
        for q in ("process", "channels", "staff", "facilities", "quality"):
            answers[q] = self.rng.choices((5, 4, 3, 2, 1), weights=(30, 35, 20, 10, 5))[0]
        reply = await call(
            self.client,
            "POST",
            self.services.url("survey", f"/v1/campaigns/{CAMPAIGN}/responses"),
            json={"answers": answers, "submission_id": ref},
        )
        if reply.status == 201 or (reply.status == 409 and reply.ambiguous):
            answer.status = "accepted"
        elif reply.status == 0:
            answer.status = "unknown"
        else:
            answer.status = "refused"
            self.unexpected.append(f"campaign {ref}: {reply.status} {reply.body}")

    # -- compliance ------------------------------------------------------------------

    def _plan_project(self) -> ProjectPlan:
        from shared.events.compliance import PROJECT_EVENT, project_event_id

        pid = f"chaos-{self.run}-K{len(self.plans) + 1}"
        big = self.rng.random() < 0.6
        budget = f"{self.rng.randrange(11_000_000, 40_000_000):,}.00" if big else "2,500,000.00"
        steps: list[tuple[str, dict[str, Any]]] = [
            (
                "ProjectRegistered",
                {
                    "name": f"โครงการก่อสร้างถนน {pid}",
                    "fiscal_year": 2570,
                    "budget": budget,
                    "funding_source": "เงินอุดหนุนเฉพาะกิจ",
                },
            )
        ]
        stages = ["approved", "procurement", "contracted", "in_progress", "inspection", "completed"]
        for stage in stages[: 2 + self.rng.randrange(len(stages) - 1)]:
            roll = self.rng.random()
            if roll < 0.25:
                steps.append(
                    (
                        "ParticipationRecorded",
                        {
                            "record_id": f"{pid}-hearing-{len(steps)}",
                            "kind": self.rng.choice(("public_hearing", "community_forum")),
                            "held_on": (date.today() - timedelta(days=3)).isoformat(),
                            "participants": {"citizens": 30 + self.rng.randrange(50)},
                            "evidence_ref": f"minutes/{pid}/{len(steps)}.pdf",
                            "issues": ["เส้นทางและการระบายน้ำ"],
                            "results": "ประชาชนเห็นด้วย ขอให้ทำรางระบายน้ำ",
                            "changes": "เพิ่มรางระบายน้ำในแบบ",
                        },
                    )
                )
            elif roll < 0.4:
                amount = f"{self.rng.randrange(5_000_000, 30_000_000):,}.50"
                steps.append(
                    ("ProjectBudgetChanged", {"budget": amount, "reason": "งบประมาณเพิ่มเติม"})
                )
            elif roll < 0.5:
                steps.append(("ProjectFlagged", {"key_policy": True}))
            elif roll < 0.6:
                # Refused when nothing asked for it (a small project): on the timeline anyway.
                waiver = {
                    "requirement": "inspection_committee_participation",
                    "reason": "ไม่มีผู้แทนภาคประชาชนสมัคร",
                    "authority": "palad",
                }
                steps.append(("ProjectRequirementWaived", waiver))
            steps.append(("ProjectStageChanged", {"stage": stage}))
        events = [
            PROJECT_EVENT.validate_python(
                {
                    "event_id": str(project_event_id(pid, version)),
                    "type": kind,
                    "org_id": ORG,
                    "payload": {"project_id": pid, "version": version, **payload},
                }
            ).to_bytes()
            for version, (kind, payload) in enumerate(steps, start=1)
        ]
        plan = ProjectPlan(pid, events)
        self.plans.append(plan)
        return plan

    async def project_kafka(self) -> None:
        live = [p for p in self.plans if p.next < len(p.events) or p.held is not None]
        if not live or (len(live) < 12 and self.rng.random() < 0.3):
            live.append(self._plan_project())
        plan = self.rng.choice(live)
        repeat = self.rng.random() < 0.06 and plan.next > 0
        if repeat:
            value = plan.events[self.rng.randrange(plan.next)]
            self.project_repeats += 1
        elif plan.held is not None:
            value, plan.held = plan.held, None
        else:
            value = plan.events[plan.next]
            plan.next += 1
            if plan.next < len(plan.events) and self.rng.random() < 0.15:
                # Its successor goes first: compliance parks it until this one arrives.
                plan.held = value
                value = plan.events[plan.next]
                plan.next += 1
        self.project_events_sent += 1
        if await self.producer.send(
            topic(self.prefix, "project.events"), plan.project_id, value, REQUEST_PATIENCE
        ):
            self.project_events_acked += 1

    def _http_project(self) -> HttpProject:
        pid = f"chaos-{self.run}-H{len(self.http_projects) + 1}"
        held = (date.today() - timedelta(days=5)).isoformat()
        steps: list[dict[str, Any]] = [
            {
                "project_id": pid,
                "name": f"โครงการขุดลอกคลอง {pid}",
                "fiscal_year": 2570,
                "budget": f"{self.rng.randrange(10_500_000, 25_000_000):,}.00",
                "funding_source": "เงินรายได้",
                "key_mission": self.rng.random() < 0.3,
            },
            {
                "type": "participation_recorded",
                "record_id": f"{pid}-forum",
                "kind": "community_forum",
                "held_on": held,
                "participants": {"citizens": 45, "community_leaders": 6},
                "evidence_ref": f"minutes/{pid}.pdf",
                "issues": ["แนวคลองและจุดทิ้งดิน"],
                "results": "เห็นชอบ ขอให้ทิ้งดินห่างจากนา",
                "changes": "ย้ายจุดทิ้งดิน",
            },
            {"type": "stage_changed", "stage": "approved"},
            {"type": "budget_changed", "budget": "12,345,678.25", "reason": "โอนงบประมาณ"},
            {"type": "stage_changed", "stage": "procurement"},
            # Already met by the forum above: refused (409), and nothing may change.
            {"type": "waived", "requirement": "public_hearing", "reason": "ทดสอบการปฏิเสธ"},
            {"type": "flagged", "key_policy": True},
            {"type": "stage_changed", "stage": "contracted"},
        ]
        project = HttpProject(pid, steps[: 3 + self.rng.randrange(len(steps) - 2)])
        self.http_projects.append(project)
        return project

    async def project_http(self) -> None:
        live = [p for p in self.http_projects if not p.busy and p.next < len(p.steps)]
        if not live or (len(live) < 8 and self.rng.random() < 0.3):
            live.append(self._http_project())
        project = self.rng.choice(live)
        project.busy = True
        try:
            step = dict(project.steps[project.next])
            key = f"chaos-{self.run}-e{self.next_id()}"
            step["event_id"] = key
            first = project.next == 0
            what = "register" if first else str(step["type"])
            record = ProjectCall(project.project_id, key, what)
            self.project_calls.append(record)
            path = "/v1/projects" if first else f"/v1/projects/{project.project_id}/events"
            # Planners register and change projects; only the ปลัด may waive a requirement.
            account = "palad" if step.get("type") == "waived" else "planner"
            reply = await call(
                self.client,
                "POST",
                self.services.url("compliance", path),
                json=step,
                who=(self.accounts, account),
            )
            record.code = reply.status
            project.next += 1
            if reply.status in (200, 201):
                record.status = "applied"
                project.registered = project.registered or first
            elif reply.status == 409:
                record.status = "not_allowed"
            elif reply.status == 0:
                record.status = "unknown"
                if first:  # the rest of its story needs the registration
                    project.next = len(project.steps)
            else:
                record.status = "refused"
                self.unexpected.append(f"compliance {what} {key}: {reply.status} {reply.body}")
        finally:
            project.busy = False

    # -- poisoned inputs -------------------------------------------------------------

    def plan_poisons(self) -> None:
        from shared.events.cases import CaseCommandIssued, CaseCommandPayload
        from shared.events.intake import RawPayloadReceived, RawPayloadReceivedPayload

        def raw(body: str, channel: str = "web", ctype: str = "application/json") -> bytes:
            return RawPayloadReceived(
                org_id=ORG,
                payload=RawPayloadReceivedPayload(
                    channel=channel,
                    received_at=now_utc(),
                    content_type=ctype,
                    body=body,
                    channel_message_id=f"chaos-{self.run}-poison-{uuid.uuid4().hex[:6]}",
                ),
            ).to_bytes()

        command = CaseCommandIssued(
            org_id=ORG,
            payload=CaseCommandPayload(
                case_id="SPT-2570-999999",
                action="acknowledge",
                officer_id=OFFICER_DESK,
                command_id=f"chaos-{self.run}-poison-command",
            ),
        ).to_bytes()
        bad_budget = json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "type": "ProjectBudgetChanged",
                "occurred_at": iso(now_utc()),
                "org_id": ORG,
                "payload": {
                    "project_id": f"chaos-{self.run}-poison",
                    "version": 2,
                    "budget": 1.5,
                },
            }
        ).encode()
        self.poisons = [
            Poison("intake", "intake.raw", "not JSON at all", b"chaos poison: \xff not json"),
            Poison("intake", "intake.raw", "body is not JSON", raw("{not json")),
            Poison("intake", "intake.raw", "submission without words", raw('{"text": "   "}')),
            Poison(
                "intake",
                "intake.raw",
                "open311 payload that is not a form",
                raw("api_key=x", channel="open311", ctype="text/plain"),
            ),
            Poison("routing", "case.commands", "command for a case that does not exist", command),
            Poison("routing", "case.commands", "not a command", b'{"type": "CaseCommandIssued"}'),
            Poison("survey", "survey.responded", "not a response", b'{"payload": 42}'),
            Poison("compliance", "project.events", "budget as a float", bad_budget),
        ]

    def wrong_source_poison(self) -> Poison | None:
        """A planning-system event for a project entered by hand: WrongSource."""
        from shared.events.compliance import PROJECT_EVENT

        done = [p for p in self.http_projects if p.registered]
        if not done:
            return None
        body = PROJECT_EVENT.validate_python(
            {
                "type": "ProjectStageChanged",
                "org_id": ORG,
                "payload": {"project_id": done[0].project_id, "version": 2, "stage": "cancelled"},
            }
        ).to_bytes()
        return Poison("compliance", "project.events", "event for a hand-entered project", body)

    async def send_poison(self, poison: Poison) -> None:
        key = hashlib.sha256(poison.body).hexdigest()[:12]
        poison.sent = await self.producer.send(
            topic(self.prefix, poison.topic), key, poison.body, REQUEST_PATIENCE
        )

    # -- the loop --------------------------------------------------------------------

    async def one(self, kind: str, size: int) -> None:
        """Send one event, or a batch of `size` (suggestion-box slips, meeting opinions)."""
        if kind == "web":
            await self.web()
        elif kind == "timer":
            await self.web(timer=True)
        elif kind == "open311":
            await self.open311()
        elif kind == "line":
            await self.line()
        elif kind == "line_followup":
            if not await self.line_followup():
                await self.line()
        elif kind == "email":
            await self.email()
        elif kind == "phone":
            await self.phone()
        elif kind == "letter":
            await self.letter()
        elif kind == "box":
            await self.box(size)
        elif kind == "meeting":
            await self.meeting(size)
        elif kind == "raw":
            await self.raw()
        elif kind == "action":
            if not await self.action():
                await self.web()
        elif kind == "survey":
            if not await self.survey() and not await self.action():
                await self.web()
        elif kind == "campaign":
            await self.campaign_answer()
        elif kind == "project_kafka":
            await self.project_kafka()
        elif kind == "project_http":
            await self.project_http()
        else:  # pragma: no cover - the mix names only the kinds above
            raise ValueError(kind)

    def size_of(self, kind: str) -> int:
        if kind == "box":
            return 3 + self.rng.randrange(5)
        if kind == "meeting":
            return 2 + self.rng.randrange(4)
        return 1

    async def _spawn(self, kind: str, size: int) -> None:
        await self.gate.acquire()

        async def run() -> None:
            try:
                await self.one(kind, size)
                self.counts[kind] += size
            except Exception as exc:
                self.unexpected.append(f"driver {kind}: {type(exc).__name__}: {exc}")
                log(f"driver error in {kind}: {type(exc).__name__}: {exc}")
            finally:
                self.gate.release()

        task = asyncio.create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drive(self, deadline: float, faults_done: Callable[[], bool]) -> None:
        self.plan_poisons()
        total = self.args.events
        poison_at = sorted(self.rng.sample(range(total // 20, total - total // 20), 9))
        kinds, weights = zip(*MIX.items(), strict=True)
        due = time.monotonic()  # when the next event may go, at the asked rate
        wrong_source_sent = False
        while self.sent_events < total and time.monotonic() < deadline:
            now = time.monotonic()
            if now < due:
                await asyncio.sleep(due - now)
                continue
            if self.backlog() > MAX_BACKLOG:
                # The pipeline is behind: wait for it (the mix stays what it is) and do
                # not let the rate's budget pile up meanwhile.
                await asyncio.sleep(0.2)
                due = time.monotonic()
                continue
            if poison_at and self.sent_events >= poison_at[0]:
                poison_at.pop(0)
                pending = [p for p in self.poisons if not p.sent]
                if pending:
                    await self.send_poison(pending[0])
                elif not wrong_source_sent and (extra := self.wrong_source_poison()):
                    self.poisons.append(extra)
                    await self.send_poison(extra)
                    wrong_source_sent = True
                self.sent_events += 1
                due += 1 / self.args.rate
                continue
            kind = self.rng.choices(kinds, weights)[0]
            size = self.size_of(kind)
            self.sent_events += size
            due += size / self.args.rate
            await self._spawn(kind, size)
        for poison in [p for p in self.poisons if not p.sent]:
            await self.send_poison(poison)
        if not wrong_source_sent and (extra := self.wrong_source_poison()):
            self.poisons.append(extra)
            await self.send_poison(extra)
        # The faults are part of the run: it does not end before the last one.
        while not faults_done() and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        if self.tasks:
            await asyncio.wait(list(self.tasks))


# ----------------------------------------------------------------------- the faults


class Faults:
    def __init__(
        self,
        args: argparse.Namespace,
        profile: stack.Profile,
        services: Services,
        client: httpx.AsyncClient,
        rng: random.Random,
    ) -> None:
        self.args = args
        self.profile = profile
        self.services = services
        self.client = client
        self.rng = rng
        plan: list[tuple[str, str]] = [("kill", s) for s in SERVICES for _ in range(args.kills)]
        plan += [("restart", "kafka"), ("restart", "ferretdb"), ("outage", "ferretdb")]
        rng.shuffle(plan)
        # One fault per slot of the run, at a random point of its slot.
        slots = len(plan)
        lo, hi = 0.04, 0.94
        width = (hi - lo) / slots
        self.plan = [
            (lo + width * (i + rng.uniform(0.1, 0.9)), what, target)
            for i, (what, target) in enumerate(plan)
        ]
        self.done: list[Fault] = []

    def finished(self) -> bool:
        return len(self.done) == len(self.plan)

    async def run(self, progress: Callable[[], float], deadline: float) -> None:
        for at, what, target in self.plan:
            while progress() < at and progress() < 1.0 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            if time.monotonic() >= deadline:
                log("deadline: the remaining faults are not injected")
                return
            await asyncio.sleep(self.rng.uniform(0.0, 1.5))
            fault = await self.inject(what, target)
            self.done.append(fault)
            took = (fault.healthy or time.monotonic()) - fault.at
            log(f"fault {len(self.done)}/{len(self.plan)} {what} {target}: healthy in {took:.1f}s")

    async def inject(self, what: str, target: str) -> Fault:
        fault = Fault(what, target, time.monotonic())
        try:
            if what == "kill":
                await self.services.kill(target)
                self.services.spawn(target)
                fault.restored = time.monotonic()
            elif what == "restart":
                await asyncio.to_thread(self._stop, target, signal.SIGKILL)
                fault.at = time.monotonic()  # down from here
                await asyncio.to_thread(self._start, target)
                fault.restored = time.monotonic()
            else:
                await asyncio.to_thread(self._stop, target, signal.SIGTERM)
                fault.at = time.monotonic()
                await asyncio.sleep(max(0.0, fault.at + self.args.outage - time.monotonic()))
                await asyncio.to_thread(self._start, target)
                fault.restored = time.monotonic()
            if await self.services.wait_healthy(self.client, SERVICES, 300):
                fault.healthy = time.monotonic()
            else:
                fault.error = "not every service healthy within 300 s"
        except Exception as exc:
            fault.error = f"{type(exc).__name__}: {exc}"
            log(f"fault {what} {target} failed: {fault.error}")
        return fault

    def _stop(self, target: str, sig: int) -> None:
        stack.stop_component(self.profile, target, 20.0, sig)
        # A SIGKILLed JVM or Go process shows as a zombie while its other threads still
        # exit and hold its ports; the stack sees it gone a moment too early.
        ports = (
            (self.profile.kafka_port, self.profile.controller_port)
            if target == "kafka"
            else (self.profile.mongo_port,)
        )
        deadline = time.monotonic() + 30
        while any(port_open(p) for p in ports) and time.monotonic() < deadline:
            time.sleep(0.1)

    def _start(self, target: str) -> None:
        deadline = time.monotonic() + 120
        while True:
            try:
                if target == "kafka":
                    stack.start_kafka(self.profile)
                else:
                    stack.start_ferretdb(self.profile)
                return
            except stack.StackError as exc:
                if time.monotonic() > deadline:
                    raise
                log(f"{target} did not start ({str(exc).splitlines()[0]}); trying again")
                time.sleep(2.0)


# ----------------------------------------------------------------------- settling down


async def partitions(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for t in await admin.describe_topics(topics):
        if t.get("error_code") == 0:
            found[t["topic"]] = sorted(p["partition"] for p in t["partitions"])
    return found


async def consumer_lag(bootstrap: str, prefix: str) -> dict[str, int]:
    """Messages not yet committed, by consumer group of the run."""
    from shared.topics import Topic

    by_purpose = {t.value.replace(".", "-"): t.value for t in Topic}
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, **kafka_client(), request_timeout_ms=10_000
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, **kafka_client(), enable_auto_commit=False
    )
    try:
        await admin.start()
        await consumer.start()
        groups = sorted(
            str(g[0]) for g in await admin.list_consumer_groups() if str(g[0]).startswith(prefix)
        )
        lag: dict[str, int] = {}
        for group in groups:
            # <prefix>ruam.<service>.<purpose>: the purpose names the topic
            _, service, purpose = group[len(prefix) :].split(".", 2)
            name = f"{service}.dlq" if purpose == "dlq" else by_purpose.get(purpose, purpose)
            full = prefix + name
            parts = (await partitions(admin, [full])).get(full)
            if parts is None:
                raise RuntimeError(f"group {group}: no topic {full}")
            tps = [TopicPartition(full, p) for p in parts]
            committed = await admin.list_consumer_group_offsets(group)
            ends = await consumer.end_offsets(tps)
            lag[group] = sum(
                max(0, end - max(0, committed[tp].offset if tp in committed else 0))
                for tp, end in ends.items()
            )
        return lag
    finally:
        await consumer.stop()
        await admin.close()


async def pending_markers(db: Any) -> dict[str, int]:
    """Outbox markers left, by collection: a version whose events are not yet out."""
    out: dict[str, int] = {}
    for name in sorted(await db.list_collection_names()):
        if name.endswith("_pending"):
            out[name] = await db[name].count_documents({})
    return out


async def settle(
    bootstrap: str,
    prefix: str,
    db: Any,
    not_before: datetime,
    timeout: float,
) -> dict[str, Any]:
    """Wait until every group has caught up and every outbox is out, twice in a row."""
    start = time.monotonic()
    quiet = 0
    lag: dict[str, int] = {}
    pending: dict[str, int] = {}
    error = ""
    while time.monotonic() - start < timeout:
        try:
            lag = await consumer_lag(bootstrap, prefix)
            pending = await pending_markers(db)
            error = ""
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        settled = bool(
            not error
            and lag
            and sum(lag.values()) == 0
            and sum(pending.values()) == 0
            and now_utc() >= not_before
        )
        quiet = quiet + 1 if settled else 0
        if quiet >= 2:
            break
        if int(time.monotonic() - start) % 30 < 5:
            log(
                f"settling: lag {sum(lag.values())}, outbox markers {sum(pending.values())}"
                + (f" ({error})" if error else "")
            )
        await asyncio.sleep(5.0)
    return {
        "settled": quiet >= 2,
        "seconds": time.monotonic() - start,
        "lag": lag,
        "outbox_markers": pending,
        "error": error,
    }


async def read_topic(bootstrap: str, full: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of a topic, from the beginning, in partition order."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, **kafka_client(), request_timeout_ms=10_000
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, **kafka_client(), enable_auto_commit=False
    )
    try:
        await admin.start()
        await consumer.start()
        tps = [TopicPartition(full, p) for p in (await partitions(admin, [full])).get(full, [])]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            positions = {tp: await consumer.position(tp) for tp in tps}
            if all(positions[tp] >= ends[tp] for tp in tps):
                break
            batch = await consumer.getmany(*tps, timeout_ms=1000)
            for records in batch.values():
                out.extend(r for r in records if r.offset < ends[TopicPartition(full, r.partition)])
        else:
            raise RuntimeError(f"{full} not read to its end within 120 s")
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()
        await admin.close()


# ----------------------------------------------------------------------- the checks


def figures_differ(stored: dict[str, Any], expected: dict[str, Any]) -> str:
    """The fields of `expected` whose value `stored` does not have, comma-separated."""
    return ", ".join(k for k, v in expected.items() if stored.get(k) != v)


def strip(doc: dict[str, Any]) -> dict[str, Any]:
    """The aggregate without what the store keeps in it (version, outbox, ...)."""
    from shared.store import STORE_FIELDS

    return {k: v for k, v in doc.items() if k not in STORE_FIELDS}


@dataclass
class Check:
    name: str
    ok: bool
    summary: str
    problems: list[str] = field(default_factory=list)


@dataclass
class Row:
    what: str
    sent: int = 0
    accepted: int = 0
    lost: int = 0
    doubled: int = 0
    dead_lettered: int = 0
    unknown: int = 0
    refused: int = 0


class Verifier:
    def __init__(self, driver: Driver, db: Any, bootstrap: str, prefix: str) -> None:
        self.d = driver
        self.db = db
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.checks: list[Check] = []
        self.rows: dict[str, Row] = {}
        self.cases: dict[str, dict[str, Any]] = {}

    def row(self, what: str) -> Row:
        return self.rows.setdefault(what, Row(what))

    async def load(self) -> None:
        self.cases = {d["_id"]: d async for d in self.db["cases"].find({}, {"outbox": 0})}

    async def run(self, dead_letters: dict[str, list[ConsumerRecord[bytes, bytes]]]) -> None:
        await self.load()
        await self.submissions()
        self.followups()
        self.actions()
        await self.surveys()
        self.timers()
        await self.compliance_http()
        await self.compliance_kafka(dead_letters)
        await self.dead_letters(dead_letters)
        self.stuck()
        await self.read_models()

    async def submissions(self) -> None:
        by_key: dict[tuple[str, str], list[str]] = defaultdict(list)
        for case_id, doc in self.cases.items():
            by_key[(doc.get("channel") or "", doc.get("channel_message_id") or "")].append(case_id)
        problems: list[str] = []
        for s in self.d.submissions:
            row = self.row(f"submission {s.kind}")
            row.sent += 1
            found = by_key.get((s.channel, s.mid), [])
            if s.status == "accepted":
                row.accepted += 1
                if not found:
                    row.lost += 1
                    problems.append(f"lost: {s.kind} {s.channel}:{s.mid} (case {s.case_id})")
                elif s.case_id is not None and s.case_id not in found:
                    row.lost += 1
                    problems.append(f"answered {s.case_id} but filed {found}: {s.mid}")
            elif s.status == "unknown":
                row.unknown += 1
            else:
                row.refused += 1
            if len(found) > 1:
                row.doubled += len(found) - 1
                problems.append(f"doubled: {s.channel}:{s.mid} -> {sorted(found)}")
        intake = {
            d["case_id"]: d["_id"] async for d in self.db["submissions"].find({}, {"case_id": 1})
        }
        ours = {(s.channel, s.mid) for s in self.d.submissions}
        extra = [
            case_id
            for case_id, doc in self.cases.items()
            if doc.get("channel") != "internal"
            and (doc.get("channel"), doc.get("channel_message_id")) not in ours
        ]
        for case_id in extra[:20]:
            problems.append(f"a case nobody sent: {case_id} {self.cases[case_id].get('channel')}")
        no_case = [c for c in intake if c not in self.cases]
        for case_id in no_case[:20]:
            problems.append(f"intake filed {case_id} ({intake[case_id]}), routing has no case")
        lost = sum(r.lost for k, r in self.rows.items() if k.startswith("submission"))
        doubled = sum(r.doubled for k, r in self.rows.items() if k.startswith("submission"))
        self.checks.append(
            Check(
                "every accepted submission is exactly one case",
                not problems,
                f"{lost} lost, {doubled} doubled, {len(extra)} unexplained cases,"
                f" {len(no_case)} intake cases without a routing case",
                problems[:50],
            )
        )

    def followups(self) -> None:
        row = self.row("LINE follow-up")
        problems: list[str] = []
        for f in self.d.followups:
            row.sent += 1
            doc = self.cases.get(f.case_id) or {}
            seen = (doc.get("applied_commands") or []).count(f"amend:line:{f.event_id}")
            if f.status == "accepted":
                row.accepted += 1
                if seen == 0:
                    row.lost += 1
                    problems.append(f"follow-up {f.event_id} not on case {f.case_id}")
            elif f.status == "unknown":
                row.unknown += 1
            else:
                row.refused += 1
            if seen > 1:
                row.doubled += seen - 1
                problems.append(f"follow-up {f.event_id} {seen} times on {f.case_id}")
        self.checks.append(
            Check(
                "every accepted LINE follow-up amended its case once",
                not problems,
                f"{row.accepted} accepted",
                problems[:50],
            )
        )

    def actions(self) -> None:
        problems: list[str] = []
        for a in self.d.actions:
            row = self.row(f"action {a.action}")
            row.sent += 1
            doc = self.cases.get(a.case_id) or {}
            entries = sum(1 for t in doc.get("timeline") or [] if t.get("note") == a.note)
            applied = (doc.get("applied_commands") or []).count(a.command_id)
            if a.status == "applied":
                row.accepted += 1
                if entries == 0 or applied == 0:
                    row.lost += 1
                    problems.append(f"2xx {a.action} {a.command_id} on {a.case_id} not in effect")
            elif a.status == "not_allowed":
                row.refused += 1
                if entries or applied:
                    row.doubled += 1
                    problems.append(f"409 {a.action} {a.command_id} took effect anyway")
            elif a.status == "unknown":
                row.unknown += 1
            else:
                row.refused += 1
            if entries > 1 or applied > 1:
                row.doubled += max(entries, applied) - 1
                problems.append(
                    f"{a.action} {a.command_id} on {a.case_id}: {entries} timeline entries,"
                    f" applied {applied} times"
                )
        applied = sum(1 for a in self.d.actions if a.status == "applied")
        self.checks.append(
            Check(
                "every 2xx officer action took effect exactly once (409: not at all)",
                not problems,
                f"{applied} applied, {sum(a.status == 'not_allowed' for a in self.d.actions)}"
                " refused as not allowed now",
                problems[:50],
            )
        )

    async def surveys(self) -> None:
        from services.survey.adapters.mongo_surveys import (
            bucket_to_document,
            response_from_document,
        )
        from services.survey.domain import rules

        stored = {d["_id"]: d async for d in self.db["responses"].find({}, {"outbox": 0})}
        problems: list[str] = []
        row = self.row("survey answer")
        reopens: Counter[str] = Counter()
        for a in self.d.answers:
            row.sent += 1
            if a.status == "accepted":
                row.accepted += 1
                if a.response_id not in stored:
                    row.lost += 1
                    problems.append(f"answer {a.response_id} not stored")
                if a.fixed == "no":
                    reopens[a.case_id] += 1
                    doc = self.cases.get(a.case_id) or {}
                    n = (doc.get("applied_commands") or []).count(f"survey-reopen-{a.response_id}")
                    if n == 0:
                        row.lost += 1
                        problems.append(f"'not fixed' {a.response_id} did not reopen {a.case_id}")
                    elif n > 1:
                        row.doubled += n - 1
                        problems.append(f"{a.response_id} reopened {a.case_id} {n} times")
            elif a.status == "unknown":
                row.unknown += 1
            else:
                row.refused += 1
        for case_id, n in reopens.items():
            entries = sum(
                1 for t in (self.cases.get(case_id) or {}).get("timeline") or []
                if t.get("action") == "reopen"
            )  # fmt: skip
            if entries != n:
                problems.append(f"{case_id}: {entries} reopen entries for {n} 'not fixed' answers")
        camp = self.row("campaign answer")
        for c in self.d.campaign:
            camp.sent += 1
            rid = f"rsp-{CAMPAIGN}-web-{c.ref}"
            if c.status == "accepted":
                camp.accepted += 1
                if rid not in stored:
                    camp.lost += 1
                    problems.append(f"campaign answer {rid} not stored")
            elif c.status == "unknown":
                camp.unknown += 1
            else:
                camp.refused += 1
        self.checks.append(
            Check(
                "every accepted survey answer is stored once and reopens what it says",
                not problems,
                f"{row.accepted} case answers, {camp.accepted} campaign answers,"
                f" {sum(reopens.values())} reopens",
                problems[:50],
            )
        )
        # The aggregates, recounted here from the stored responses with survey's own rules.
        sizes: Counter[str] = Counter()
        counts: dict[str, Counter[tuple[str, Any]]] = defaultdict(Counter)
        slices: dict[str, Any] = {}
        for doc in stored.values():
            response = response_from_document(doc)
            for slice_ in rules.slices_of(response):
                slices[slice_.key] = slice_
                sizes[slice_.key] += 1
                for answer in response.scored:
                    counts[slice_.key][(answer.question_id, answer.value)] += 1
        expected = {
            key: bucket_to_document(rules.bucket_from_counts(s, sizes[key], counts[key]))
            for key, s in slices.items()
        }
        buckets = {d["_id"]: strip(d) async for d in self.db["satisfaction_buckets"].find({})}
        # The figures are compared; what else a bucket keeps (which responses it has
        # counted, say) is the survey service's own bookkeeping.
        wrong = [
            f"{key}: stored {buckets.get(key, {}).get('responses')} responses,"
            f" recount {exp['responses']}"
            + ("" if key not in buckets else f" ({figures_differ(buckets[key], exp)})")
            for key, exp in sorted(expected.items())
            if key not in buckets or figures_differ(buckets[key], exp)
        ]
        wrong += [f"{key}: a bucket no response backs" for key in buckets if key not in expected]
        self.checks.append(
            Check(
                "survey aggregates equal a recount of the stored responses",
                not wrong,
                f"{len(expected)} buckets from {len(stored)} responses",
                wrong[:50],
            )
        )

    def timers(self) -> None:
        row = self.row("deadline timer")
        problems: list[str] = []
        now = now_utc()
        for case_id, due in self.d.timer_due.items():
            if due > now:
                continue
            row.sent += 1
            doc = self.cases.get(case_id)
            if doc is None:
                continue  # a lost submission: counted there
            # The first step of the chain above the owner falls due with the deadline.
            fired = [k for k in doc.get("fired_timers") or [] if k.startswith("esc:")]
            entries = [t for t in doc.get("timeline") or [] if t.get("action") == "escalate"]
            if not fired:
                row.lost += 1
                problems.append(f"{case_id}: reply deadline {due:%H:%M:%S} passed, not escalated")
            else:
                row.accepted += 1
            if len(fired) != len(set(fired)) or len(entries) != len(fired):
                row.doubled += 1
                problems.append(f"{case_id}: {len(entries)} escalations for timers {fired}")
        self.checks.append(
            Check(
                "every reply deadline that fell due escalated once (routing's timer loop)",
                not problems,
                f"{row.accepted} of {row.sent} escalated",
                problems[:50],
            )
        )

    async def compliance_http(self) -> None:
        from shared.events.envelope import new_event_id

        docs = {
            d["_id"]: d async for d in self.db["projects"].find({"source": "http"}, {"outbox": 0})
        }
        problems: list[str] = []
        row = self.row("compliance HTTP")
        for c in self.d.project_calls:
            row.sent += 1
            doc = docs.get(c.project_id) or {}
            event_id = str(new_event_id("http", c.project_id, c.event_key))
            applied = (doc.get("applied_event_ids") or []).count(event_id)
            entries = [t for t in doc.get("timeline") or [] if t.get("event_id") == event_id]
            if c.status == "applied":
                row.accepted += 1
                if not applied or not entries or entries[0].get("refused"):
                    row.lost += 1
                    problems.append(f"{c.what} {c.event_key} on {c.project_id} not applied")
            elif c.status == "not_allowed":
                row.refused += 1
                if applied or entries:
                    row.doubled += 1
                    problems.append(f"409 {c.what} {c.event_key} was applied anyway")
            elif c.status == "unknown":
                row.unknown += 1
            else:
                row.refused += 1
            if applied > 1 or len(entries) > 1:
                row.doubled += 1
                problems.append(
                    f"{c.what} {c.event_key}: applied {applied}x, {len(entries)} entries"
                )
        self.checks.append(
            Check(
                "every 2xx compliance request was applied exactly once (409: not at all)",
                not problems,
                f"{row.accepted} applied on {len(docs)} projects",
                problems[:50],
            )
        )

    async def compliance_kafka(
        self, dead_letters: dict[str, list[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        records = await read_topic(self.bootstrap, topic(self.prefix, "project.events"))
        stored = {d["_id"]: d async for d in self.db["projects"].find({}, {"outbox": 0})}
        replayed, refused = await replay_projects(records, stored)
        problems: list[str] = []
        for pid, doc in sorted(replayed.items()):
            mine = stored.get(pid)
            if mine is None:
                problems.append(f"{pid}: replayed, not stored")
                continue
            have = strip(mine)
            diff = sorted(k for k in set(doc) | set(have) if doc.get(k) != have.get(k))
            if diff:
                problems.append(f"{pid}: differs in {', '.join(diff)}")
        for pid, doc in stored.items():
            if doc.get("source") == "kafka" and pid not in replayed:
                problems.append(f"{pid}: stored, but nothing on project.events made it")
        row = self.row("compliance Kafka")
        row.sent = self.d.project_events_sent
        row.accepted = self.d.project_events_acked
        row.lost = sum(1 for p in problems if "differs" in p or "not stored" in p)
        self.checks.append(
            Check(
                "compliance's projects equal a replay of project.events (in-process)",
                not problems,
                f"{len(replayed)} projects from {len(records)} records"
                f" ({self.d.project_repeats} sent twice on purpose, {len(refused)} refused)",
                problems[:50],
            )
        )

    async def dead_letters(self, letters: dict[str, list[ConsumerRecord[bytes, bytes]]]) -> None:
        expected = {p.digest: p for p in self.d.poisons if p.sent}
        seen: Counter[str] = Counter()
        problems: list[str] = []
        for service, records in letters.items():
            for r in records:
                digest = hashlib.sha256(r.value or b"").hexdigest()
                headers = {k: v.decode(errors="replace") for k, v in r.headers}
                if digest in expected and expected[digest].service == service:
                    seen[digest] += 1
                else:
                    problems.append(
                        f"unexpected dead letter in {service}.dlq: "
                        f"{headers.get('x-dlq-source-topic')}@{headers.get('x-dlq-offset')}"
                        f" {headers.get('x-dlq-reason', '')[:200]}"
                    )
        for digest, poison in expected.items():
            if not seen[digest]:
                problems.append(f"poison not dead-lettered: {poison.service} {poison.what}")
        stored = await self.db["dead_letters"].count_documents({})
        distinct = {
            (
                dict(r.headers).get("x-dlq-source-topic", b""),
                dict(r.headers).get("x-dlq-partition", b""),
                dict(r.headers).get("x-dlq-offset", b""),
            )
            for records in letters.values()
            for r in records
        }
        if stored != len(distinct):
            problems.append(f"{stored} letters stored, {len(distinct)} distinct on the topics")
        row = self.row("poisoned input")
        row.sent = len(self.d.poisons)
        row.accepted = sum(1 for p in self.d.poisons if p.sent)
        row.dead_lettered = sum(seen.values())
        self.checks.append(
            Check(
                "the dead letters are exactly the poisoned inputs",
                not problems,
                f"{len(expected)} poisoned, {sum(len(v) for v in letters.values())} on the dlq"
                f" topics, {stored} kept",
                problems[:50],
            )
        )

    def stuck(self) -> None:
        problems = [
            f"{case_id} is {doc.get('status')}, owner {doc.get('officer_id')}"
            for case_id, doc in sorted(self.cases.items())
            if doc.get("status") == "received"
            or not doc.get("department")
            or doc.get("assigned_at") is None
        ]
        self.checks.append(
            Check(
                "no case stuck: every case received was assigned",
                not problems,
                f"{len(self.cases)} cases, {len(problems)} unassigned",
                problems[:50],
            )
        )

    async def read_models(self) -> None:
        """What the other services made of routing's events: intake's view of each case
        shows routing's status, and every resolution of a citizen's case was surveyed."""
        problems: list[str] = []
        views = {
            d["case_id"]: (d.get("progress") or {}).get("status")
            async for d in self.db["submissions"].find({}, {"case_id": 1, "progress": 1})
        }
        stale = [
            f"{case_id}: routing {doc.get('status')}, intake shows {views.get(case_id)}"
            for case_id, doc in sorted(self.cases.items())
            if views.get(case_id) != doc.get("status")
        ]
        problems += stale
        surveys = {d["_id"] async for d in self.db["surveys"].find({}, {"_id": 1})}
        wanted = {
            f"svy-{case_id}-{t['seq']}"
            for case_id, doc in self.cases.items()
            if doc.get("kind") != "improvement_action"
            for t in doc.get("timeline") or []
            if t.get("action") == "resolve"
        }
        problems += [f"resolution {s} was not surveyed" for s in sorted(wanted - surveys)]
        problems += [f"survey {s} without its resolution" for s in sorted(surveys - wanted)]
        self.checks.append(
            Check(
                "intake's view and survey's surveys follow every case event once",
                not problems,
                f"{len(views)} case views, {len(stale)} stale; {len(surveys)} surveys for"
                f" {len(wanted)} resolutions",
                problems[:50],
            )
        )


class MemoryProjects:
    """compliance's ProjectRepository in memory, for the replay."""

    def __init__(self, projects: dict[str, Any]) -> None:
        self.projects = projects

    async def get(self, project_id: str) -> Any:
        project = self.projects.get(project_id)
        return copy.deepcopy(project) if project is not None else None

    async def save(self, project: Any, emissions: Any) -> None:
        self.projects[project.project_id] = copy.deepcopy(project)

    async def flush(self, project_id: str) -> int:
        return 0

    async def sweep(self) -> int:
        return 0

    async def find(self, query: Any, limit: int, offset: int) -> list[Any]:
        return []

    async def with_open_requirements(self, limit: int) -> list[str]:
        return []

    async def count(self, query: Any, *, with_violations: bool = False) -> int:
        return 0

    async def violations(self) -> int:
        return sum(len(p.violations) for p in self.projects.values())


async def replay_projects(
    records: list[ConsumerRecord[bytes, bytes]], stored: dict[str, dict[str, Any]]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """project.events, in topic order, through compliance's own handlers; the documents the
    Kafka-fed projects come to. Hand-entered projects are given as stored, as compliance
    saw them when an event named them."""
    from prometheus_client import CollectorRegistry
    from pydantic import ValidationError

    from services.compliance.adapters.config_files import load_policies
    from services.compliance.adapters.mongo_projects import from_document, to_document
    from services.compliance.handlers import ComplianceHandlers
    from services.compliance.metrics import ComplianceMetrics
    from services.compliance.settings import CONFIG_DIR
    from shared.clock import SystemClock
    from shared.errors import PermanentError
    from shared.events.compliance import PROJECT_EVENT

    repo = MemoryProjects(
        {pid: from_document(doc) for pid, doc in stored.items() if doc.get("source") == "http"}
    )
    handlers = ComplianceHandlers(
        repo,
        load_policies(CONFIG_DIR),
        SystemClock(),
        ComplianceMetrics(CollectorRegistry()),
    )
    refused: list[str] = []
    for record in records:
        try:
            event = PROJECT_EVENT.validate_json(record.value or b"")
            await handlers.on_project_event(event)
        except (ValidationError, PermanentError) as exc:
            refused.append(f"{record.partition}@{record.offset}: {type(exc).__name__}")
    replayed = {
        pid: to_document(p) for pid, p in repo.projects.items() if p.source.value == "kafka"
    }
    return replayed, refused


# ----------------------------------------------------------------------- the report


def recovery(faults: list[Fault], driver: Driver, watcher: Watcher) -> list[dict[str, Any]]:
    """Per fault, in seconds from the moment it struck: its component started again, every
    service healthy, intake accepting (a submission sent after it answered 2xx), routing assigning
    (a case.assigned from after the restart), and the first case sent after the fault
    assigned: end to end, queue included."""
    sent = sorted(
        (s.sent_at, s.case_id) for s in driver.submissions if s.status == "accepted" and s.case_id
    )
    answered = sorted(
        (s.sent_at, s.accepted_at)
        for s in driver.submissions
        if s.status == "accepted" and s.case_id and s.accepted_at is not None
    )
    out = []
    for f in faults:

        def since(moment: float | None, f: Fault = f) -> float | None:
            return round(moment - f.at, 1) if moment is not None else None

        e2e = [watcher.assigned_at[c] for at, c in sent if at >= f.at and c in watcher.assigned_at]
        accepting = min((done for at, done in answered if at >= f.at), default=None)
        assigning = watcher.times[bisect.bisect_left(watcher.times, f.restored or f.at) :][:1]
        out.append(
            {
                "fault": f"{f.name} {f.target}",
                "restored_s": since(f.restored),
                "healthy_s": since(f.healthy),
                "accepting_s": since(accepting),
                "assigning_s": since(assigning[0] if assigning else None),
                "next_case_s": since(min(e2e) if e2e else None),
                "error": f.error,
            }
        )
    return out


def print_report(
    rows: list[Row], faults: list[dict[str, Any]], checks: list[Check], seconds: float
) -> None:
    print()
    header = (
        f"  {'':<26}{'sent':>8}{'accepted':>10}{'lost':>7}{'doubled':>9}"
        f"{'dead-lettered':>15}{'unknown':>9}{'refused':>9}"
    )
    print(header)
    total = Row("total")
    for r in sorted(rows, key=lambda r: r.what):
        print(
            f"  {r.what:<26}{r.sent:>8}{r.accepted:>10}{r.lost:>7}{r.doubled:>9}"
            f"{r.dead_lettered:>15}{r.unknown:>9}{r.refused:>9}"
        )
        for name in ("sent", "accepted", "lost", "doubled", "dead_lettered", "unknown", "refused"):
            setattr(total, name, getattr(total, name) + getattr(r, name))
    print(
        f"  {'total':<26}{total.sent:>8}{total.accepted:>10}{total.lost:>7}{total.doubled:>9}"
        f"{total.dead_lettered:>15}{total.unknown:>9}{total.refused:>9}"
    )
    keys = ("restored_s", "healthy_s", "accepting_s", "assigning_s", "next_case_s")
    print(
        "\n  recovery, s after the fault   restarted  healthy  accepting  assigning"
        "  next case end to end"
    )
    for f in faults:
        cells = ["-" if f[k] is None else f"{f[k]:.1f}" for k in keys]
        print(
            f"  {f['fault']:<30}{cells[0]:>9}{cells[1]:>9}{cells[2]:>11}{cells[3]:>11}"
            f"{cells[4]:>22}" + (f"  {f['error']}" if f["error"] else "")
        )
    print()
    for c in checks:
        print(f"  [{'ok' if c.ok else 'FAIL'}] {c.name}: {c.summary}")
        for p in c.problems[:10]:
            print(f"         - {p}")
    print(f"\n  run took {seconds / 60:.1f} min")


# ----------------------------------------------------------------------- main


def service_env(profile: stack.Profile, database: str, prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUAM_", "MONGODB_"))}
    env.update(profile.env())
    env.update(
        MONGODB_DATABASE=database,
        RUAM_TOPIC_PREFIX=prefix,
        OPEN311_API_KEYS=OPEN311_KEY,
        LINE_CHANNEL_SECRET=LINE_SECRET,
        # One signing key for the run: tokens taken before routing is killed stay valid
        # after it restarts (in dev, routing would otherwise make a new key each start).
        RUAM_OIDC_SIGNING_KEY=SIGNING_KEY,
        # Due timers are looked for every second: a deadline fires within a second or so.
        ROUTING_TIMER_POLL_SECONDS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def fresh_stack(profile: stack.Profile) -> None:
    """The chaos stack from scratch: its broker and database hold nothing of earlier runs."""
    stack.down(profile)
    for part in (profile.kafka_dir, profile.ferretdb_dir):
        shutil.rmtree(part, ignore_errors=True)
    stack.up(profile, infra_only=True)


def git_head() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "services", "shared"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


async def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    deadline = started + args.deadline * 60
    rng = random.Random(args.seed)
    run_id = uuid.uuid4().hex[:8]
    prefix = f"chaos{run_id}."
    database = f"ruam_chaos_{run_id}"
    profile = stack.get_profile(args.profile)
    log(f"run {run_id}: {args.events} events at {args.rate:g}/s on profile {profile.name}")
    await asyncio.to_thread(fresh_stack, profile)
    acls = await asyncio.to_thread(stack.apply_acls, profile, prefix)
    log(f"kafka ACLs for {prefix}*: {acls} bindings, one principal per service")
    src = snapshot_code(profile.run_dir, run_id)
    use_code(src)
    services = Services(profile, src, service_env(profile, database, prefix))
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(15.0, connect=3.0),
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
    )
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        profile.mongodb_url, tz_aware=True, serverSelectionTimeoutMS=5000
    )
    db = mongo[database]
    producer = Producer(profile.kafka_bootstrap)
    watcher = Watcher(profile.kafka_bootstrap, prefix)
    stop = asyncio.Event()
    monitor: asyncio.Task[None] | None = None
    try:
        for svc in SERVICES:
            services.spawn(svc)
        if not await services.wait_healthy(client, SERVICES, 300):
            raise RuntimeError(f"the services did not start; see {profile.logs_dir}")
        monitor = asyncio.create_task(services.watch(stop))
        await watcher.start()
        driver = Driver(args, run_id, prefix, services, client, producer, watcher, rng)
        faults = Faults(args, profile, services, client, rng)
        drive_deadline = deadline - args.settle_timeout - 120
        progress_task = asyncio.create_task(report_progress(driver, watcher, faults, stop))
        chaos = asyncio.create_task(
            faults.run(lambda: driver.sent_events / args.events, drive_deadline)
        )
        await driver.drive(drive_deadline, faults.finished)
        await chaos
        log(f"sent {driver.sent_events} events; waiting for the pipeline to settle")
        last_due = max(driver.timer_due.values(), default=now_utc()) + timedelta(seconds=5)
        settled = await settle(
            profile.kafka_bootstrap,
            prefix,
            db,
            last_due,
            max(60.0, min(args.settle_timeout, deadline - time.monotonic() - 60)),
        )
        stop.set()
        progress_task.cancel()
        log("checking")
        letters = {
            svc: await read_topic(profile.kafka_bootstrap, topic(prefix, f"{svc}.dlq"))
            for svc in SERVICES
        }
        verifier = Verifier(driver, db, profile.kafka_bootstrap, prefix)
        await verifier.run(letters)
        checks = verifier.checks
        checks.insert(
            0,
            Check(
                "consumer lag 0 on every group and every outbox drained",
                bool(settled["settled"]),
                f"after {settled['seconds']:.0f} s: lag {sum(settled['lag'].values())},"
                f" outbox markers {sum(settled['outbox_markers'].values())}",
                [f"{g}: {n}" for g, n in settled["lag"].items() if n]
                + [f"{c}: {n}" for c, n in settled["outbox_markers"].items() if n],
            ),
        )
        checks.append(
            Check(
                "every fault injected and recovered from",
                faults.finished() and not any(f.error for f in faults.done),
                f"{len(faults.done)} of {len(faults.plan)}",
                [f"{f.name} {f.target}: {f.error}" for f in faults.done if f.error],
            )
        )
        checks.append(
            Check(
                "no service exited by itself",
                not services.crashes,
                f"{len(services.crashes)} unexpected exits",
                [json.dumps(c) for c in services.crashes],
            )
        )
        checks.append(
            Check(
                "every input was valid (no 4xx except 409)",
                not driver.unexpected,
                f"{len(driver.unexpected)} refused",
                driver.unexpected[:50],
            )
        )
        table = recovery(faults.done, driver, watcher)
        rows = list(verifier.rows.values())
        seconds = time.monotonic() - started
        print_report(rows, table, checks, seconds)
        lost = sum(r.lost for r in rows)
        doubled = sum(r.doubled for r in rows)
        out = {
            "at": now_utc().isoformat(),
            "run": run_id,
            "code": git_head(),
            "args": vars(args),
            "seconds": seconds,
            "events_sent": driver.sent_events,
            "events_by_kind": dict(driver.counts),
            "kafka_send_retries": producer.failures,
            "lost": lost,
            "doubled": doubled,
            "rows": [asdict(r) for r in rows],
            "faults": table,
            "settle": settled,
            "checks": [asdict(c) for c in checks],
            "database": database,
            "topic_prefix": prefix,
            "logs": str(profile.logs_dir),
        }
        results = REPO / "bench-results"
        results.mkdir(exist_ok=True)
        path = results / f"chaos-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        path.write_text(json.dumps(out, indent=2, ensure_ascii=False, default=str))
        ok = all(c.ok for c in checks) and lost == 0 and doubled == 0
        print(f"  written to {path.relative_to(REPO)}")
        print(
            f"chaos: {driver.sent_events} events, {lost} lost, {doubled} doubled,"
            f" {sum(not c.ok for c in checks)} failed checks, {seconds / 60:.1f} min"
        )
        return 0 if ok else 1
    finally:
        stop.set()
        if monitor is not None:
            monitor.cancel()
        # Interrupted or not, what the run started is stopped: the processes first.
        cleanup: list[Callable[[], Awaitable[Any]]] = [
            services.stop_all,
            watcher.stop,
            producer.stop,
            client.aclose,
            mongo.close,
        ]
        if not args.keep_stack:
            cleanup.append(lambda: asyncio.to_thread(stack.down, profile))
        for step in cleanup:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await step()
        shutil.rmtree(src, ignore_errors=True)


async def report_progress(
    driver: Driver, watcher: Watcher, faults: Faults, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 20)
        accepted = sum(1 for s in driver.submissions if s.status == "accepted")
        log(
            f"{driver.sent_events}/{driver.args.events} events, {accepted} submissions accepted,"
            f" {len(watcher.assigned_at)} cases assigned, backlog {driver.backlog()},"
            f" faults {len(faults.done)}/{len(faults.plan)}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="events to send (10,000)")
    parser.add_argument("--rate", type=float, default=12.0, help="events per second offered")
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs per service")
    parser.add_argument("--outage", type=float, default=30.0, help="database outage, seconds")
    parser.add_argument("--deadline", type=float, default=60.0, help="whole run, minutes")
    parser.add_argument(
        "--settle-timeout", type=float, default=600.0, help="wait for lag 0, seconds"
    )
    parser.add_argument("--concurrency", type=int, default=24, help="requests in flight")
    parser.add_argument("--seed", type=int, default=None, help="random seed (a replayable mix)")
    parser.add_argument("--profile", default="chaos", help="stack profile it may kill")
    parser.add_argument("--keep-stack", action="store_true", help="leave Kafka/FerretDB up")
    args = parser.parse_args(argv)
    if args.profile in ("local", "test"):
        parser.error("the chaos run kills its stack's broker and database: use its own profile")
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # a restarting broker is the plan
    return asyncio.run(guarded(run(args)))


async def guarded(work: Awaitable[int]) -> int:
    """SIGTERM ends the run like Ctrl-C: cancelled, and its processes stopped."""
    task = asyncio.ensure_future(work)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await task


if __name__ == "__main__":
    raise SystemExit(main())
