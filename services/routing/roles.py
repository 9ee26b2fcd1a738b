"""Role changes on the audit trail: who can sign in with the built-in issuer, and as what.

Roles come from the directory (a head, the ปลัด) and the credentials file, which are edited as
files, not through an API. So routing compares what it would grant now with what it granted
when it last looked (a snapshot per organisation), at start and whenever the directory is
checked again, and puts every difference on the audit trail: a new account, a role or
department changed, an account gone. With the SAO's own identity provider, role changes are
made (and audited) there.

Order (so a crash repeats, never loses): 1. publish the records of the differences, their ids
derived from the next snapshot generation, so a repeat is the same records; 2. then store the
new snapshot.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.routing.identity import Issuer
from shared.audit import audit_event
from shared.auth import Principal
from shared.clock import Clock
from shared.mongo import Document
from shared.outbox import Emission, RawPublisher

log = logging.getLogger("ruam.routing.roles")

ACTION = "role.change"


def differences(before: dict[str, str], after: dict[str, str]) -> list[tuple[str, str, str]]:
    """(account, granted before, granted now) for every account whose grant changed; an
    empty string is no account."""
    return [
        (account, before.get(account, ""), after.get(account, ""))
        for account in sorted(set(before) | set(after))
        if before.get(account, "") != after.get(account, "")
    ]


class RoleChanges:
    def __init__(
        self, issuer: Issuer, db: AsyncDatabase[Document], publisher: RawPublisher, clock: Clock
    ) -> None:
        self.issuer = issuer
        self.snapshots = db["role_snapshots"]
        self.publisher = publisher
        self.clock = clock

    async def check(self) -> int:
        """Record what changed since the last look; how many accounts changed."""
        org = self.issuer.org_id
        stored: dict[str, Any] | None = await self.snapshots.find_one({"_id": org})
        generation = int(stored["generation"]) if stored else 0
        before = {a["id"]: a["grant"] for a in stored["accounts"]} if stored else {}
        now = self.issuer.accounts()
        changed = differences(before, now)
        if not changed:
            return 0
        who = Principal(subject="routing", org_id=org, roles=frozenset())
        at = self.clock.now()
        messages = []
        for account, was, becomes in changed:
            record = audit_event(
                who,
                service="routing",
                action=ACTION,
                target=f"account:{account}",
                at=at,
                before=_grant_view(was),
                after=_grant_view(becomes),
                detail="first look" if stored is None else None,
                record_id=f"{ACTION}:{org}:{generation + 1}:{account}",
            )
            emission = Emission.of(record)
            messages.append((emission.topic, emission.key, record.to_bytes()))
        await self.publisher.publish_all(messages)
        await self.snapshots.replace_one(
            {"_id": org},
            {
                "generation": generation + 1,
                "accounts": [{"id": k, "grant": v} for k, v in sorted(now.items())],
            },
            upsert=True,
        )
        log.info("role changes of %s on the audit trail: %d account(s)", org, len(changed))
        return len(changed)


def _grant_view(grant: str) -> dict[str, str]:
    if not grant:
        return {"account": "none"}
    roles, _, department = grant.partition("|")
    return {"roles": roles, "department": department}
