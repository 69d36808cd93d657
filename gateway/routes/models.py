"""``GET /v1/models``: the models a client may ask for, built-in and the operator's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gateway.services import ServicesDep
from shared.models import AUTO_MODEL, DEFAULT_MODEL, MODELS

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("")
async def list_models(services: ServicesDep) -> dict[str, Any]:
    """Each model's name, native scales, default scale and origin; any scale from 1 to
    ``max_scale`` may be asked of any model (the worker runs its native scales and resizes)."""
    return {
        "default": DEFAULT_MODEL,
        "auto": AUTO_MODEL,
        "max_scale": services.settings.max_scale,
        # Face enhancement (face_enhance=true) is offered only with a restorer installed.
        "face_enhance_available": services.faces.available,
        "face_enhance_note": services.faces.reason,
        "models": [
            {
                "name": m.name,
                "scales": list(m.scales),
                "default_scale": m.default_scale,
                "description": m.description,
                "source": "builtin" if m.name in MODELS else "operator",
            }
            for m in services.models.values()
        ],
    }
