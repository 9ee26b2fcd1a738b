"""The organisation as the site presents it: names, channels, villages. Validated here,
read from config/<org_id>.yaml by an adapter."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChannelInfo(_Config):
    code: str
    th: str
    en: str
    link: str | None = None


class Place(_Config):
    th: str
    en: str


class Site(_Config):
    org_id: str
    name_th: str
    name_en: str
    short_th: str
    short_en: str
    address_th: str
    address_en: str
    office_hours_th: str
    office_hours_en: str
    channels: tuple[ChannelInfo, ...]
    suggestion_boxes: tuple[Place, ...] = ()
    departments: dict[str, tuple[str, str]] = Field(default_factory=dict)
    villages: dict[int, str] = Field(default_factory=dict)
    map_center: tuple[float, float] = (15.65, 103.6)
    map_zoom: int = 12

    def department(self, code: str | None, lang: str = "th") -> str:
        if not code:
            return "–"
        names = self.departments.get(code)
        if names is None:
            return code
        return names[0] if lang == "th" else names[1]

    def village(self, number: int | None, lang: str = "th") -> str:
        if number is None:
            return "ไม่ระบุ" if lang == "th" else "not given"
        name = self.villages.get(number, "")
        return f"หมู่ที่ {number} {name}".strip() if lang == "th" else f"Moo {number} {name}".strip()
