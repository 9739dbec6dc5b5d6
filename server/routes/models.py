"""``GET /models``, ``GET /models/comparison`` and ``POST /models/rollback``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from engine.errors import NotFound
from server.deps import OperatorDep, ServicesDep
from server.routes._responses import errors
from server.schemas import (
    AliasMovePublic,
    ModelComparisonPublic,
    ModelVersionPublic,
    ModelVersionsPublic,
)

router = APIRouter(prefix="/models")


@router.get("", response_model=ModelVersionsPublic)
def list_models(*, services: ServicesDep) -> ModelVersionsPublic:
    """Registered versions with aliases, test metrics and lineage, newest first."""
    versions = services.models()
    return ModelVersionsPublic(data=[ModelVersionPublic.from_info(v) for v in versions],
                               count=len(versions))


@router.get("/comparison", response_model=ModelComparisonPublic, responses=errors(404, 503))
def latest_comparison(*, services: ServicesDep) -> ModelComparisonPublic:
    """The latest champion/challenger comparison; 404 before the first retraining."""
    event = services.latest_comparison()
    if event is None:
        raise NotFound("no model comparison yet: retrain first (POST /retrain or "
                       "`spamops retrain`)")
    return ModelComparisonPublic.from_event(event)


@router.post("/rollback", response_model=AliasMovePublic,
             responses=errors(401, 404, 409, 503))
def rollback(*, services: ServicesDep, operator: OperatorDep,
             expected_champion: Annotated[int | None, Query(
                 ge=1, description="Refuse (409) unless this version is still the champion: "
                                   "the one the caller decided to roll back.")] = None,
             ) -> AliasMovePublic:
    """Swap champion and previous (needs X-API-Key); recorded in the audit trail."""
    return AliasMovePublic.from_move(services.rollback(actor=operator,
                                                       expected_champion=expected_champion))
