"""What the facade hands back: frozen dataclasses, and the limits they are checked against.

Owns ``Prediction``, ``Health``, ``TrainOutcome``, ``SimulationResult``, ``BaselineView``,
``ChampionCard``, ``Overview``, ``AlertGauges`` and ``MetricsReadings`` (the records of
``engine.records`` are the store's own). It must not compute anything: every field is filled
by a ``Services`` method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from engine.records import (
    BaselineWindow,
    Decision,
    DriftSnapshot,
    ReceiverHealth,
)
from engine.training import TrainingResult

if TYPE_CHECKING:
    from engine.scheduling import HolderInfo

Progress = Callable[[str], None]

MAX_TEXT_CHARS = 5000
"""Longest message the engine scores; longer input is refused, not truncated."""


@dataclass(frozen=True)
class Prediction:
    """One scored message."""

    id: str
    label: str
    spam_probability: float
    model_version: int
    text: str


@dataclass(frozen=True)
class Health:
    """What a serving process can say about itself (``GET /health``)."""

    model_version: int | None
    """The champion version loaded for serving; None when there is none."""
    store_reachable: bool
    scheduler_holder: HolderInfo | None
    problems: tuple[str, ...]
    """One line per problem (no champion, a champion that failed to load, store busy or
    unreachable); empty when healthy."""
    spool_rejected_segments: int = 0
    """Files of spool rows the store refused for their content, set aside in
    ``<home>/spool/rejected/`` for an operator (``spamops store reingest``); not a problem
    of serving: the rest of the spool flows."""


@dataclass(frozen=True)
class TrainOutcome:
    """What ``train`` did: the new version, its metrics, and whether it became champion."""

    result: TrainingResult
    champion_version: int
    became_champion: bool


@dataclass(frozen=True)
class SimulationResult:
    """What ``simulate`` scored and labelled."""

    messages: int
    drifted: int
    labelled: int
    spam_predicted: int
    accuracy_on_labelled: float | None
    """Share of labelled predictions that were right (what the late labels will show)."""
    model_version: int
    started_at: datetime
    label_delay_seconds: float

BASELINE_SCHEMA = 5
"""The migration that created the accepted drift baseline (005_drift_baseline.sql)."""


@dataclass(frozen=True)
class BaselineView:
    """A champion's drift baseline: the accepted windows on top of its training reference."""

    champion_version: int
    windows: tuple[BaselineWindow, ...]
    """Accepted windows, oldest first, reset ones included (``reset_at`` set)."""

    @property
    def active(self) -> tuple[BaselineWindow, ...]:
        """The windows that count now."""
        return tuple(w for w in self.windows if w.reset_at is None)


@dataclass(frozen=True)
class ChampionCard:
    """The champion as the console and the dashboard show it."""

    version: int
    created_at: datetime
    accuracy: float | None
    """Test-split metrics at training time."""
    precision: float | None
    recall: float | None
    f1: float | None
    roc_auc: float | None
    live_accuracy: float | None
    """Accuracy on recent traffic from the latest check: measured from labels or estimated."""
    live_accuracy_is_estimate: bool
    live_accuracy_low: float | None
    live_accuracy_high: float | None
    live_labels: int
    previous_version: int | None
    previous_accuracy: float | None
    previous_f1: float | None
    live_accuracy_unreliable: bool = False
    """The live accuracy is a label-free estimate that drift (or the labels) made unreliable."""


@dataclass(frozen=True)
class Overview:
    """One read of everything the overview screens show."""

    champion: ChampionCard | None
    latest_snapshot: DriftSnapshot | None
    latest_decision: Decision | None
    pending_approvals: int
    predictions_total: int
    versions: int
    scheduler_holder: HolderInfo | None
    now: datetime


@dataclass(frozen=True)
class AlertGauges:
    """What the Prometheus alert rules watch (``deploy/prometheus/spamops-rules.yml``), read
    at scrape time. Times are naive UTC."""

    last_check_at: datetime | None
    """The newest monitoring decision (any trigger)."""
    check_interval_seconds: float
    accuracy: float | None
    """The newest check's accuracy that has a value (measured or estimated)."""
    accuracy_is_estimate: bool
    accuracy_floor: float
    accuracy_estimate_unreliable: bool
    """That estimate was made on a drifted window (drift makes it optimistic)."""
    pending_approvals: int
    oldest_pending_approval_at: datetime | None
    spool_segments: int
    spool_bytes: int
    scheduler_holder_present: bool
    receivers: tuple[ReceiverHealth, ...]
    spool_rejected_segments: int = 0
    """Files of refused spool rows waiting in ``<home>/spool/rejected/``."""


@dataclass(frozen=True)
class MetricsReadings:
    """Everything one ``/metrics`` scrape exports from the engine, read in one store session."""

    health: Health
    audit_records: int
    """Records in the audit chain as anchored in the monitor log (not the database)."""
    gauges: AlertGauges | None
    """None when the store was not reachable or the read failed (``problem`` says why)."""
    latest_snapshot: DriftSnapshot | None
    store_connections: int
    """Store connections this process has opened so far (0 before the store is open)."""
    problem: str | None = None
