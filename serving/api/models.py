"""GET /v1/models and POST /v1/models/reload: which registered scorer decides, and reloading it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from serving.api.deps import get_principal
from serving.auth import Principal, Role
from serving.registry import ModelManager
from serving.schemas import problems
from serving.scorers import ActiveModels

router = APIRouter(prefix="/v1/models", tags=["models"])


class ModelsOut(BaseModel):
    """The model that decides, and the challenger that only shadows it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "champion": "cpeguard-scorer/4",
                    "challenger": "cpeguard-scorer/5",
                    "rules_version": "rules-3f2a9c1d0b7e",
                    "source": "registry",
                }
            ]
        }
    )

    champion: str = Field(description="version named on every detection run and settlement")
    challenger: str | None = Field(description="scores the same runs in the shadow; never enforced")
    rules_version: str
    source: str = Field(description="registry, or cold (the unsupervised detectors, no registered model)")


def _manager(request: Request) -> ModelManager:
    manager: ModelManager = request.app.state.models
    return manager


def _admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.role is not Role.ADMIN:
        raise HTTPException(403, f"role {principal.role.value} may not do this; needs admin")
    return principal


def _out(active: ActiveModels) -> ModelsOut:
    return ModelsOut(
        champion=active.champion.version,
        challenger=active.challenger.version if active.challenger is not None else None,
        rules_version=active.champion.rules_version,
        source=active.source,
    )


@router.get("", responses=problems(401, 503))
def get_models(
    principal: Annotated[Principal, Depends(get_principal)],
    manager: Annotated[ModelManager, Depends(_manager)],
) -> ModelsOut:
    """The active champion and challenger."""
    return _out(manager.active())


@router.post(
    "/reload", responses=problems(401, 403, 503, c503="the model registry (or database) could not be read")
)
def reload_models(
    principal: Annotated[Principal, Depends(_admin)],
    manager: Annotated[ModelManager, Depends(_manager)],
) -> ModelsOut:
    """Load what the registry's champion and challenger aliases point at now (admin only)."""
    try:
        return _out(manager.reload(actor=principal))
    except Exception:
        raise HTTPException(503, "the model registry could not be read; the models are unchanged") from None
