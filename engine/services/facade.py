"""``Services``: the facade every UI calls, composed of one mixin per concern.

Each concern lives in its own module of this package; this module only puts them together,
and must not hold a method of its own (a new verb goes into the module of its concern).
"""

from __future__ import annotations

from engine.services.drift import DriftMixin
from engine.services.history import HistoryMixin
from engine.services.models import ModelsMixin
from engine.services.monitoring import MonitoringMixin
from engine.services.notifications import NotificationsMixin
from engine.services.operations import OperationsMixin
from engine.services.reads import ReadsMixin


class Services(ModelsMixin, HistoryMixin, DriftMixin, MonitoringMixin, ReadsMixin,
               OperationsMixin, NotificationsMixin):
    """Everything the UIs may ask the engine for.

    Built once per process from ``Settings`` (and a ``Clock``): ``Services(settings, clock=...,
    read_only=...)``; see ``ServicesBase`` for the lifecycle (``store``, ``start_serving``,
    ``close``).
    """
