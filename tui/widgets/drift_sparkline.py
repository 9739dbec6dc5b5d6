"""One live sparkline of a drift statistic over the recent snapshots.

Each ``DriftSparkline`` subscribes to the app's snapshot signal itself (Posting's pattern: one
publisher, every subscriber updates on its own), so a new snapshot reaches every line without
a key press. The latest value is printed beside the line with the threshold it is judged
against, and the widget gets the ``-over`` class when the value exceeds it. Must not call the
engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.signal import Signal
from textual.widgets import Label, Sparkline

from engine.records import DriftSnapshot
from tui.formatting import DASH


@dataclass(frozen=True)
class SparklineSpec:
    """What one sparkline plots."""

    key: str
    """Widget id suffix, e.g. ``drift-score``."""
    label: str
    value: Callable[[DriftSnapshot], float | None]
    threshold: Callable[[DriftSnapshot], float | None] | None = None
    """The line is judged against this (``None``: shown for context only)."""
    fmt: Callable[[float], str] | None = None
    """How the latest value is printed (default: two decimals)."""


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


SPARKLINES: tuple[SparklineSpec, ...] = (
    SparklineSpec("drift-score", "drift score", lambda s: s.drift_score, lambda s: s.threshold),
    SparklineSpec("vocabulary", "vocabulary", lambda s: s.vocabulary_drift),
    SparklineSpec("tfidf", "TF-IDF", lambda s: s.tfidf_drift),
    SparklineSpec("prediction", "prediction", lambda s: s.prediction_drift),
    SparklineSpec("spam-rate", "spam rate", lambda s: s.spam_rate, fmt=_pct),
)
"""The overview's lines: the combined score (judged against the threshold), then the
statistics it is made of, then the traffic's predicted spam rate."""


class DriftSparkline(Horizontal):
    """``label  ▁▂▅▇  latest / threshold`` for one statistic."""

    def __init__(self, spec: SparklineSpec, signal: Signal[Sequence[DriftSnapshot]],
                 history: Sequence[DriftSnapshot] = ()) -> None:
        super().__init__(id=f"spark-{spec.key}", classes="drift-sparkline")
        self.spec = spec
        self._signal = signal
        self._history = list(history)
        self.values: list[float] = []
        """The plotted values, oldest first (tests read them)."""

    def compose(self) -> ComposeResult:
        yield Label(self.spec.label, classes="spark-label")
        yield Sparkline([], summary_function=max, classes="spark-line")
        yield Label(DASH, classes="spark-value")

    def on_mount(self) -> None:
        self._signal.subscribe(self, self.plot)
        self.plot(self._history)

    def plot(self, history: Sequence[DriftSnapshot]) -> None:
        """Plot ``history`` (oldest first)."""
        pairs = [(s, self.spec.value(s)) for s in history]
        points = [(s, v) for s, v in pairs if v is not None]
        self.values = [float(v) for _, v in points]
        self.query_one(Sparkline).data = self.values
        value_label = self.query_one(".spark-value", Label)
        if not points:
            value_label.update(DASH)
            self.set_class(False, "-over")
            return
        latest_snapshot, latest = points[-1]
        text = self.spec.fmt(latest) if self.spec.fmt else f"{latest:.2f}"
        over = False
        if self.spec.threshold is not None:
            threshold = self.spec.threshold(latest_snapshot)
            if threshold is not None:
                text += f" / {threshold:.2f}"
                over = latest > threshold
        value_label.update(text)
        self.set_class(over, "-over")
