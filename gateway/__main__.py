"""``python -m gateway``: serve the gateway alone (distributed mode)."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings
from shared.logging import configure_logging
from shared.memory import return_large_blocks_to_os


def main() -> None:
    """Read settings, configure logging, serve."""
    settings = GatewaySettings()
    configure_logging("gateway", settings.log)
    return_large_blocks_to_os()  # uploads' buffers go back to the system when freed
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False, log_config=None)


if __name__ == "__main__":
    main()
