"""Pure text helpers of the console: engine records in, Rich text out.

Kept apart from the widgets so that they are testable without running an app and the same
wording is used on every screen. Nothing here calls the engine, reads the clock or touches a
widget; ``now`` is always passed in (the engine clock's time, so simulated homes read right).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from engine.records import Decision, RetrainingEvent
from engine.rules import deciding_set

DASH = "–"
"""Shown where a number is unknown."""


def pct(value: float | None, digits: int = 1) -> str:
    """``0.9912`` -> ``99.1%``; ``None`` -> a dash."""
    return DASH if value is None else f"{value * 100:.{digits}f}%"


def num(value: float | None, digits: int = 2) -> str:
    """A fixed-point number, or a dash."""
    return DASH if value is None else f"{value:.{digits}f}"


def points(value: float | None) -> str:
    """An accuracy difference in percentage points, signed: ``+1.4 pt``."""
    return DASH if value is None else f"{value * 100:+.1f} pt"


def ago(when: datetime | None, now: datetime) -> str:
    """A short age: ``just now``, ``5m ago``, ``3h ago``, ``2d ago`` (``in 5m`` if future)."""
    if when is None:
        return DASH
    delta = now - when
    future = delta < timedelta(0)
    seconds = abs(delta.total_seconds())
    if seconds < 60:
        text = "now" if future else "just now"
        return text
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            amount = f"{int(seconds // size)}{unit}"
            return f"in {amount}" if future else f"{amount} ago"
    return DASH  # pragma: no cover - the loop always returns


def stamp(when: datetime | None) -> str:
    """``2025-01-06 10:30`` (engine times are naive UTC)."""
    return DASH if when is None else f"{when:%Y-%m-%d %H:%M}"


def short_id(identifier: str | None) -> str:
    """The first 8 characters of an id, as the monitoring log prints them."""
    return DASH if not identifier else identifier[:8]


def version(number: int | None) -> str:
    """A model version, ``v3``; a dash when there is none (no champion yet)."""
    return DASH if number is None else f"v{number}"


def judged_set(comparison: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The evaluation set the deployment gate judged on: the one the record names
    (``decided_on``, the set ``comparison_table`` marks "decides"), else for older records
    the deployment rule's own choice (``engine.rules.deciding_set``)."""
    sets = list((comparison or {}).get("sets") or [])
    named = (comparison or {}).get("decided_on")
    return next((s for s in sets if s.get("name") == named), None) or deciding_set(sets)


def judged_change(comparison: Mapping[str, Any] | None) -> str:
    """The accuracy change the gate judged, in points (``+1.4 pt``), or a dash."""
    judged = judged_set(comparison)
    return points(judged.get("accuracy_difference") if judged else None)


DECISION_STYLES: Mapping[str, str] = {
    "RETRAIN": "bold yellow", "NO_ACTION": "green", "INSUFFICIENT_DATA": "dim",
    "DEPLOY": "bold green", "KEEP": "cyan", "PENDING_APPROVAL": "bold magenta",
    "APPROVED": "bold green", "REJECTED": "red",
}
"""Colour of each decision word (the .tcss cannot reach inside Rich text)."""


def decision_text(word: str | None) -> Text:
    """A decision word in its colour."""
    word = word or DASH
    return Text(word, style=DECISION_STYLES.get(word, ""))


def decision_summary(decision: Decision | None) -> RenderableType:
    """The overview's "latest decision": what, when, why."""
    if decision is None:
        return Text("No monitoring decision yet. Press c to run a check once traffic has "
                    "been logged.", style="dim")
    head = Text.assemble(decision_text(decision.decision), "  ",
                         (f"{stamp(decision.ts)} · {decision.trigger} · by {decision.actor}",
                          "dim"))
    if decision.outcome:
        head.append(f" · {decision.outcome}")
    body = Text(" ".join(decision.reasons))
    return Group(head, body)


def _metric_rows(comparison_set: Mapping[str, Any]) -> Iterable[tuple[str, str, str]]:
    champion = comparison_set.get("champion", {}).get("metrics", {})
    challenger = comparison_set.get("challenger", {}).get("metrics", {})
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        fmt = pct if key in ("accuracy", "precision", "recall") else num
        digits = 3 if fmt is num else 1
        yield key, fmt(champion.get(key), digits), fmt(challenger.get(key), digits)


def _set_title(item: Mapping[str, Any], decided_on: str | None) -> str:
    first, last = (item.get("first_at") or "")[:10], (item.get("last_at") or "")[:10]
    dates = (f", labelled {first}" if first == last else f", labelled {first} to {last}") \
        if first and last else ""
    role = ("" if decided_on is None
            else " · decides" if item.get("name") == decided_on else " · guard")
    return f"{item.get('name', '?')} set (n={item.get('n', '?')}{dates}){role}"


def comparison_table(comparison: Mapping[str, Any] | None) -> RenderableType:
    """Champion vs challenger on each evaluation set: size, dates, role, McNemar and the
    95% intervals the deployment gate judged by."""
    if not comparison or not comparison.get("sets"):
        return Text("No comparison recorded.", style="dim")
    champion_v = comparison.get("champion_version")
    challenger_v = comparison.get("challenger_version")
    decided_on = comparison.get("decided_on")
    parts: list[RenderableType] = []
    for item in comparison["sets"]:
        table = Table(title=_set_title(item, decided_on),
                      title_justify="left", box=None, pad_edge=False, expand=False)
        table.add_column("metric")
        table.add_column(f"champion v{champion_v}", justify="right")
        table.add_column(f"challenger v{challenger_v}", justify="right")
        for row in _metric_rows(item):
            table.add_row(*row)
        if item.get("champion_ham_fpr") is not None:
            table.add_row("ham FPR", pct(item.get("champion_ham_fpr")),
                          pct(item.get("challenger_ham_fpr")))
        parts.append(table)
        kind, low, high = "Bonett-Price", item.get("accuracy_low"), item.get("accuracy_high")
        if low is None:  # records from before the statistical gate
            kind, low, high = "bootstrap", item.get("bootstrap_low"), item.get("bootstrap_high")
        parts.append(Text(
            f"accuracy change {points(item.get('accuracy_difference'))} "
            f"(95% {kind} {points(low)} to {points(high)}); McNemar b={item.get('mcnemar_b')}"
            f" c={item.get('mcnemar_c')} p={num(item.get('mcnemar_p_value'), 4)}"))
    return Group(*parts)


def decision_details(decision: Decision, event: RetrainingEvent | None) -> RenderableType:
    """Everything the history view shows for one monitoring decision."""
    lines = [
        Text.assemble(("Decision ", "bold"), decision_text(decision.decision),
                      f"  {stamp(decision.ts)}  trigger {decision.trigger}  by {decision.actor}"),
        Text(f"Outcome: {decision.outcome or DASH}"),
        Text("Reasoning: " + " ".join(decision.reasons)),
        Text(f"Window {decision.window_size} predictions; drift score "
             f"{num(decision.drift_score)}; accuracy {pct(decision.accuracy)} "
             + ("(estimated" if decision.accuracy_is_estimate else "(measured")
             + f", {decision.n_labels} labels, 95% CI {pct(decision.accuracy_low)}–"
             f"{pct(decision.accuracy_high)}); champion v{decision.champion_version}"),
        Text("Thresholds: " + ", ".join(f"{k}={v}" for k, v in decision.thresholds.items()),
             style="dim"),
    ]
    parts: list[RenderableType] = list(lines)
    if event is not None:
        parts.append(Text(""))
        parts.append(event_details(event))
    return Group(*parts)


def event_details(event: RetrainingEvent) -> RenderableType:
    """Everything the history view shows for one retraining event."""
    head = Text.assemble(
        ("Retraining ", "bold"), decision_text(event.deployment or event.status.upper()),
        f"  {stamp(event.started_at)}  trigger {event.trigger}  by {event.actor}  "
        f"status {event.status}")
    versions = Text(f"Champion v{event.champion_version or DASH} vs challenger "
                    f"v{event.challenger_version or DASH}; improvement "
                    f"{points(event.improvement)}")
    return Group(head, versions, Text("Reasoning: " + (event.reasoning or DASH)),
                 comparison_table(event.comparison))


def accuracy_change(event: RetrainingEvent | None) -> str:
    """The history table's "Δ accuracy" cell."""
    return points(event.improvement) if event is not None else DASH
