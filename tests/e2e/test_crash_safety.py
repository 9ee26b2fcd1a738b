"""Kill routing (SIGKILL) in the middle of a stream: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from services.intake.bootstrap import create_service as create_intake
from services.intake.settings import IntakeSettings
from shared.mongo import create_client
from shared.roles import Role
from tests.conftest import eventually, running
from tests.signing import as_

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SUBMISSIONS = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_routing(settings: IntakeSettings, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_SASL_USERNAME": settings.kafka_sasl_username,
        "KAFKA_SASL_PASSWORD": settings.kafka_sasl_password,
        "MONGODB_URL": settings.mongodb_url,
        "MONGODB_DATABASE": settings.mongodb_database,
        "RUAM_TOPIC_PREFIX": settings.topic_prefix,
        "RUAM_OUTBOX_SWEEP_SECONDS": "0.5",
        "ROUTING_HTTP_PORT": str(port),
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.routing.main"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_routing_killed_mid_stream_assigns_every_case_exactly_once(
    real_settings: Any, tmp_path: Path
) -> None:
    settings: IntakeSettings = real_settings(IntakeSettings)
    client = create_client(settings.mongodb_url, app_name="test")
    cases = client[settings.mongodb_database]["cases"]
    port = free_port()
    log = tmp_path / "routing.log"
    routing = start_routing(settings, port, log)
    try:
        async with running(create_intake(settings)) as intake:
            intake.headers.update(as_(Role.OFFICER, officer_id="desk", department="office"))
            case_ids: dict[str, str] = {}

            async def submit(n: int) -> None:
                body = {
                    "channel": "phone",
                    "kind": "complaint",
                    "channel_message_id": f"call-{n}",
                    "text": f"ไฟฟ้าส่องสว่างดับ จุดที่ {n} หมู่ที่ {1 + n % 9}",
                }
                r = await intake.post("/v1/submissions", json=body)
                assert r.status_code == 202, r.text
                case_ids[f"call-{n}"] = r.json()["case_id"]

            for n in range(SUBMISSIONS // 2):
                await submit(n)
            # Kill while the first half is being routed: some stored, some not yet.
            await eventually(lambda: cases.count_documents({}), timeout=120)
            routing.send_signal(signal.SIGKILL)
            routing.wait(timeout=30)
            killed_with = await cases.count_documents({})
            for n in range(SUBMISSIONS // 2, SUBMISSIONS):
                await submit(n)
            routing = start_routing(settings, port, log)

            async def all_assigned() -> bool:
                return await cases.count_documents({"status": "assigned"}) >= SUBMISSIONS

            await eventually(all_assigned, timeout=180, interval=0.5)
            docs = [d async for d in cases.find({}, {"_id": 1, "channel_message_id": 1})]
            assert killed_with < SUBMISSIONS, "routing was killed after it had finished"
            assert len(docs) == SUBMISSIONS
            assert sorted(d["_id"] for d in docs) == sorted(case_ids.values())
            assert len({d["channel_message_id"] for d in docs}) == SUBMISSIONS
            # And every assignment went out: intake's view of each case took its case.assigned
            # (a save the kill cut off before its events were published is redone on the
            # case.received that comes again).
            submissions = client[settings.mongodb_database]["submissions"]

            async def all_announced() -> bool:
                taken = {"progress.assignment_no": {"$gte": 1}}
                return await submissions.count_documents(taken) >= SUBMISSIONS

            await eventually(all_announced, timeout=120, interval=0.5)
    finally:
        routing.kill()
        routing.wait(timeout=30)
        await client.close()
