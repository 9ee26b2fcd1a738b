"""The services' APIs, called with the signed-in person's own token.

The console decides nothing about who may see what: routing, intake, survey, compliance and
insight answer the person's token as they answer any client, and the console shows what they return.
Their refusals become `Refusal`s: a sentence in plain Thai and what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from services.console.settings import ConsoleSettings


@dataclass(frozen=True)
class Refusal(Exception):
    """What the API said no with, for a person to read."""

    status: int
    message: str  # Thai: what happened
    advice: str  # Thai: what to do now
    detail: str = ""  # the API's own words (English), shown small
    retry_after: int | None = None

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"


class SignInAgain(Exception):
    """The token was refused (401): the person must sign in again."""


def refusal_of(status: int, body: Any, retry_after: str | None = None) -> Refusal:
    """The plain-Thai reading of an API's refusal (README "HTTP interfaces": one meaning a
    status)."""
    detail = ""
    if isinstance(body, dict):
        detail = str(body.get("message") or body.get("error_description") or "")
        fields = [
            f"{d.get('field')}: {d.get('message')}"
            for d in body.get("details") or []
            if isinstance(d, dict)
        ]
        if fields:
            detail = "; ".join([detail, *fields]) if detail else "; ".join(fields)
    wait = int(retry_after) if retry_after and retry_after.isdigit() else None
    if status == 409:
        return Refusal(
            409,
            "ทำรายการนี้ไม่ได้ในสถานะปัจจุบันของเรื่อง",
            "เรื่องอาจถูกเปลี่ยนสถานะไปแล้ว ให้โหลดหน้าเรื่องใหม่เพื่อดูสถานะล่าสุด แล้วเลือกการดำเนินการที่ยังทำได้",
            detail,
        )
    if status in (503, 502, 504):
        after = f"ประมาณ {wait} วินาที" if wait else "สักครู่"
        return Refusal(
            503,
            "ระบบไม่ว่างชั่วคราว รายการนี้ยังไม่ถูกบันทึก",
            f"รอ{after} แล้วกดส่งอีกครั้ง ข้อมูลที่กรอกไว้ยังอยู่ในแบบฟอร์ม ถ้ายังไม่ได้ให้แจ้งผู้ดูแลระบบ",
            detail,
            wait,
        )
    if status == 403:
        return Refusal(
            403,
            "บัญชีของท่านไม่มีสิทธิ์ทำรายการนี้",
            "เรื่องนี้อาจอยู่ในความรับผิดชอบของผู้อื่น ติดต่อหัวหน้าส่วนราชการถ้าต้องดำเนินการ",
            detail,
        )
    if status == 404:
        return Refusal(404, "ไม่พบข้อมูลที่ต้องการ", "ตรวจสอบเลขที่เรื่องแล้วลองอีกครั้ง", detail)
    if status in (400, 413, 415, 422):
        return Refusal(
            status,
            "ข้อมูลที่กรอกยังไม่ถูกต้องหรือไม่ครบ",
            "แก้ไขช่องที่ระบุด้านล่าง แล้วกดส่งอีกครั้ง",
            detail,
        )
    if status == 429:
        return Refusal(429, "ส่งคำขอถี่เกินไป", "รอสักครู่แล้วลองอีกครั้ง", detail, wait)
    return Refusal(
        status,
        "ระบบขัดข้อง รายการนี้ยังไม่ถูกบันทึก",
        "ลองอีกครั้งภายหลัง ถ้ายังไม่ได้ให้แจ้งผู้ดูแลระบบ",
        detail,
    )


UNREACHABLE = Refusal(
    503,
    "ติดต่อระบบงานไม่ได้ชั่วคราว รายการนี้ยังไม่ถูกบันทึก",
    "รอสักครู่แล้วลองอีกครั้ง ถ้ายังไม่ได้ให้แจ้งผู้ดูแลระบบ",
)


class Api:
    """One HTTP client for every service; each call names the service and the token."""

    def __init__(self, settings: ConsoleSettings, client: httpx.AsyncClient | None = None):
        self._bases = {
            name: settings.url_of(name)
            for name in ("routing", "intake", "survey", "compliance", "portal", "insight")
        }
        self._client = client or httpx.AsyncClient(timeout=settings.upstream_timeout_seconds)

    async def close(self) -> None:
        await self._client.aclose()

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        token: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        files: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The JSON answer of a 2xx; `Refusal` for any other, `SignInAgain` for a 401."""
        try:
            response = await self._client.request(
                method,
                self._bases[service] + path,
                params={k: v for k, v in (params or {}).items() if v not in (None, "")},
                json=json,
                files=files,
                data=data,
                headers={"Authorization": f"Bearer {token}", **(headers or {})},
            )
        except httpx.HTTPError as exc:
            raise UNREACHABLE from exc
        if response.status_code == 401:
            raise SignInAgain()
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        if response.status_code >= 300:
            raise refusal_of(response.status_code, body, response.headers.get("retry-after"))
        return body

    async def raw(self, service: str, path: str, token: str) -> tuple[bytes, str]:
        try:
            response = await self._client.get(
                self._bases[service] + path, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise UNREACHABLE from exc
        if response.status_code == 401:
            raise SignInAgain()
        if response.status_code >= 300:
            raise refusal_of(response.status_code, None, response.headers.get("retry-after"))
        return response.content, response.headers.get("content-type", "application/octet-stream")
