"""`python -m services.survey.main`: run survey (HTTP on SURVEY_HTTP_PORT, default 8003)."""

from __future__ import annotations

from services.survey.bootstrap import create_service
from shared.runtime import run


def main() -> None:
    service = create_service()
    run(service.asgi, service.settings)


if __name__ == "__main__":
    main()
