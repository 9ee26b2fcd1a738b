"""Role changes reach the audit trail: routing compares who may sign in as what with its
last look, and records each difference once."""

from __future__ import annotations

from typing import Any, cast

from argon2 import PasswordHasher

from services.routing.identity import Credential, Issuer, SigningKey
from services.routing.roles import RoleChanges, differences
from shared.clock import FixedClock
from shared.roles import Role
from shared.topics import Topic
from tests.fakes import FakePublisher
from tests.routing.fakes import StaticDirectories
from tests.routing.unit.test_handlers import NOW
from tests.shared.unit.fakes_mongo import FakeDatabase

HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("not-the-demo")


def issuer(credentials: dict[str, Credential]) -> Issuer:
    return Issuer(
        "http://127.0.0.1:8002/oidc",
        "ruam",
        "sraphonthong",
        StaticDirectories(),
        SigningKey.generate(),
        credentials=credentials,
        dev=False,
    )


def test_differences_name_new_changed_and_gone_accounts() -> None:
    before = {"a": "officer|engineering", "b": "head|finance", "c": "auditor|"}
    after = {"a": "officer|health", "b": "head|finance", "d": "planner|"}
    assert differences(before, after) == [
        ("a", "officer|engineering", "officer|health"),
        ("c", "auditor|", ""),
        ("d", "", "planner|"),
    ]


async def test_each_change_is_recorded_once_and_a_repeat_look_records_nothing() -> None:
    credentials = {
        "eng-somchai": Credential(password_hash=HASH),
        "auditor-2569": Credential(password_hash=HASH, roles=frozenset({Role.AUDITOR})),
    }
    publisher = FakePublisher()
    db = FakeDatabase()
    watcher = RoleChanges(issuer(credentials), cast(Any, db), publisher, FixedClock(NOW))
    assert await watcher.check() == 2  # the first look records who there is
    assert await watcher.check() == 0

    # eng-somchai is also made a planner; the auditor's account is removed.
    changed = {
        "eng-somchai": Credential(
            password_hash=HASH, roles=frozenset({Role.OFFICER, Role.PLANNER})
        ),
    }
    watcher.issuer = issuer(changed)
    assert await watcher.check() == 2
    records = [e["payload"] for e in publisher.on(Topic.AUDIT_TRAIL)]
    later = {r["target"]: r for r in records[2:]}
    assert later["account:eng-somchai"]["before"] == {
        "roles": "officer",
        "department": "engineering",
    }
    assert later["account:eng-somchai"]["after"]["roles"] == "officer,planner"
    assert later["account:auditor-2569"]["after"] == {"account": "none"}
    assert {r["action"] for r in records} == {"role.change"}
    # Distinct ids per look, so a change back and forth is two records, a repeat none.
    assert len({r["record_id"] for r in records}) == len(records) == 4
