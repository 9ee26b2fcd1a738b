"""`python -m services.console.main`: the officers' console (HTTP on CONSOLE_HTTP_PORT, 8006)."""

from __future__ import annotations

import logging

from services.console.bootstrap import create_service


def main() -> None:
    import uvicorn

    service = create_service()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        service.asgi,
        host=service.settings.http_host,
        port=service.settings.http_port,
        log_level="info",
        access_log=False,  # addresses and case numbers stay out of the log
        lifespan="on",
        loop="uvloop",
    )


if __name__ == "__main__":
    main()
