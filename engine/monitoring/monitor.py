"""``Monitor``: checks and retrains for one data home, composed of one mixin per concern.

Each concern lives in its own module of this package; this module only puts them together,
and must not hold a method of its own (new behaviour goes into the module of its concern).
"""

from __future__ import annotations

from engine.monitoring.approvals import ApprovalsMixin
from engine.monitoring.check import CheckMixin
from engine.monitoring.retrain import RetrainMixin


class Monitor(CheckMixin, RetrainMixin, ApprovalsMixin):
    """Runs checks and retrains for one data home.

    ``Monitor(settings=..., store=..., registry=..., dataset=..., detector_for=..., clock=...,
    log=..., switch=...)``; see ``MonitorBase``.
    """
