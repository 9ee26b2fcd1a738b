"""What the portal needs from the outside world, as protocols: where its read model is
kept between restarts, where web-form photos go, and the other services' public APIs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from services.portal.domain.model import Case, Fact, Project


class ReadStore(Protocol):
    """The read model's durable copy: one document per case, project and fact, written
    when a newer projection arrives and read back whole at start."""

    async def save_case(self, case: Case) -> bool:
        """Keep `case` unless a newer projection of it is kept; True if it was kept."""

    async def save_project(self, project: Project) -> bool: ...

    async def save_fact(self, fact: Fact) -> bool: ...

    async def load(self) -> tuple[list[Case], list[Project], list[Fact]]: ...


class PhotoStore(Protocol):
    async def keep(self, photo_id: str, jpeg: bytes) -> str:
        """Keep a cleaned photo; returns the reference an attachment carries."""

    async def link(self, photo_id: str, case_id: str) -> None:
        """Note the case the photo came with (who may see it follows from the case)."""

    async def get(self, photo_id: str) -> tuple[bytes, str | None] | None:
        """The photo and its case, if kept."""


@dataclass(frozen=True)
class Reply:
    """Another service's answer; status 503 with no body when it could not be reached."""

    status: int
    body: Any = None  # the JSON body, if it was JSON
    content: bytes = b""
    content_type: str = ""


class Upstream(Protocol):
    async def request(
        self,
        service: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply: ...
