import logging

import uvicorn

from .bootstrap import bootstrap
from .config import Settings


def main() -> None:
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    # HTTPS-ready: behind the ingress (TLS there) the forwarded headers say the scheme.
    uvicorn.run(
        bootstrap(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
