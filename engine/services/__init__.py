"""The facade every UI calls: reads are nouns, commands are verbs.

``Services`` is built once per process from ``Settings`` (and a ``Clock``) and handed to the
CLI, the console, the API and the dashboard. It composes the engine modules; it holds no
business rule of its own beyond ordering the steps. Results are frozen dataclasses.

One module per concern: ``core`` (lifecycle: the store, the registry, the champion switch,
the serving lock, ``close``), ``models`` (datasets, training, promote, rollback),
``history`` (predict, feedback, SQL, export, the audit trail, simulate), ``drift``
(detectors and the accepted baseline), ``monitoring`` (checks, retrains, approvals, the
scheduler), ``reads`` (decisions, drift history, the overview, daily aggregates, alert
gauges), ``operations`` (backup, restore, retention, health), ``notifications`` (the
webhook outbox sender), ``probe`` (the background store probe), ``results`` (the frozen
results); ``facade`` composes them into ``Services``.

UIs import from this package only (``from engine.services import Services, Health``); it
must not import any UI framework, and start-up stays cheap (heavy machinery is imported
lazily, inside the methods that need it).
"""

from engine.services.core import SERVING_LOCK
from engine.services.facade import Services
from engine.services.probe import ProbeStatus, StoreProbe
from engine.services.results import (
    BASELINE_SCHEMA,
    MAX_TEXT_CHARS,
    AlertGauges,
    BaselineView,
    ChampionCard,
    Health,
    MetricsReadings,
    Overview,
    Prediction,
    Progress,
    SimulationResult,
    TrainOutcome,
)
from engine.serving import ChampionCache

__all__ = [
    "BASELINE_SCHEMA",
    "MAX_TEXT_CHARS",
    "SERVING_LOCK",
    "AlertGauges",
    "BaselineView",
    "ChampionCache",
    "ChampionCard",
    "Health",
    "MetricsReadings",
    "Overview",
    "Prediction",
    "ProbeStatus",
    "Progress",
    "Services",
    "SimulationResult",
    "StoreProbe",
    "TrainOutcome",
]
