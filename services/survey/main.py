"""`python -m services.survey.main`: run survey (HTTP on SURVEY_HTTP_PORT, default 8003)."""

from __future__ import annotations

from services.survey.bootstrap import create_service
from shared.service import main

if __name__ == "__main__":
    main(create_service)
