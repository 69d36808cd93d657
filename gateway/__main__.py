"""``python -m gateway``: serve the gateway alone (distributed mode)."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings
from shared.logging import configure_logging


def main() -> None:
    """Read settings, configure logging, serve."""
    settings = GatewaySettings()
    configure_logging("gateway", settings.log)
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False, log_config=None)


if __name__ == "__main__":
    main()
