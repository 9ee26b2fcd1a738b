"""The endpoint × role matrix, read from the services themselves.

Each service is built on fakes and its API's routes are walked: every route declares its
`shared.access.Access`, so the matrix is what the code enforces, not what someone wrote down.
The README's table is this module's output (`python -m tests.access_matrix` prints it), and
tests/shared/unit/test_access_matrix.py checks both that the README matches and that every
endpoint answers every role as the matrix says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from starlette.routing import Route

from services.compliance.bootstrap import create_service as create_compliance
from services.compliance.settings import ComplianceSettings
from services.console.bootstrap import create_service as create_console
from services.console.settings import ConsoleSettings
from services.insight.bootstrap import create_service as create_insight
from services.insight.settings import InsightSettings
from services.routing.bootstrap import create_service as create_routing
from services.routing.settings import RoutingSettings
from shared.access import Access, Endpoint
from shared.clock import FixedClock
from shared.line import DEV_LINE_TOKEN
from shared.roles import Role
from tests.compliance.fakes import FakeAuditTrail, FakeProjectRepository
from tests.insight.fakes import DIRECTORY, FakeCases, FakeConsultations, FakeFigures, FakePlans
from tests.intake.unit.api import service as intake_on
from tests.intake.unit.helpers import World
from tests.portal.fakes import portal
from tests.routing.fakes import FakeCaseRepository, FakeRanker, StaticDirectories
from tests.routing.unit.test_handlers import NOW
from tests.survey.builders import service_on, wired


def services() -> dict[str, Any]:
    """The six services on fakes (intake's with its dead-letter office), and the console."""
    return {
        # With the citizens' LINE push on: its reads of notification.requested and
        # survey.requested are then on the bus like every other subscription.
        "intake": intake_on(World(), line_channel_access_token=DEV_LINE_TOKEN),
        "routing": create_routing(
            # With the officers' LINE push on: its reads of case.assigned and case.escalated
            # are then on the bus like every other subscription.
            RoutingSettings(line_channel_access_token=SecretStr(DEV_LINE_TOKEN)),
            cases=FakeCaseRepository(),
            directories=StaticDirectories(),
            ranker=FakeRanker(),
            clock=FixedClock(NOW),
        ),
        "survey": service_on(wired()),
        "compliance": create_compliance(
            ComplianceSettings(),
            projects=FakeProjectRepository(),
            clock=FixedClock(NOW),
            audit_trail=FakeAuditTrail(),
        ),
        "portal": portal(),
        "console": create_console(ConsoleSettings(env="dev")),
        "insight": create_insight(
            InsightSettings(),
            cases=FakeCases(),
            figures=FakeFigures(),
            consultations=FakeConsultations(),
            plans=FakePlans(),
            directory=DIRECTORY,
            clock=FixedClock(NOW),
        ),
    }


@dataclass(frozen=True)
class Row:
    service: str
    method: str
    path: str
    access: Access


def rows(built: dict[str, Any] | None = None) -> list[Row]:
    """Every endpoint of every service; a route without an Access raises (a defect)."""
    found = []
    for name, service in (built or services()).items():
        for route in service.api.routes:
            if not isinstance(route, Endpoint):
                raise TypeError(f"{name} {getattr(route, 'path', route)} declares no access")
            assert isinstance(route, Route) and route.methods
            for method in sorted(route.methods - {"HEAD"}):
                found.append(Row(name, method, route.path, route.access))
    return found


def markdown(found: list[Row] | None = None) -> str:
    roles = list(Role)
    head = "| Service | Endpoint | " + " | ".join(r.value for r in roles) + " | Anyone |"
    rule = "|---|---|" + "---|" * (len(roles) + 1)
    lines = [head, rule]
    for row in found or rows():
        public = row.access.public
        marks = ["✓" if public is None and role in row.access.roles else "" for role in roles]
        anyone = public or ""
        lines.append(
            f"| {row.service} | `{row.method} {row.path}` | " + " | ".join(marks) + f" | {anyone} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
