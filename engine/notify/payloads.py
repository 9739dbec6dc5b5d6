"""What goes on the wire: the JSON and Slack-shaped bodies, and their signature.

``json`` is the spamops body (``event_id``, ``event``, ``time``, ``summary``, ``reasons``,
``models``, ``subject``, ``details``). ``slack`` is Slack's incoming-webhook shape
(``text`` plus ``blocks``, https://api.slack.com/messaging/webhooks); Mattermost and Teams
connectors read its ``text``. With a secret, ``X-Spamops-Signature`` carries
``sha256=`` + hex HMAC-SHA256 (RFC 2104) of the exact body bytes, the way GitHub signs its
webhooks, so a receiver can check it with one ``hmac.compare_digest``. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from engine.notify.config import Webhook
from engine.notify.events import NotifyEvent

SIGNATURE_HEADER = "X-Spamops-Signature"
EVENT_ID_HEADER = "X-Spamops-Event-Id"
EVENT_HEADER = "X-Spamops-Event"

_EMOJI = {"drift_detected": ":warning:", "retrain_started": ":hourglass_flowing_sand:",
          "deployed": ":rocket:", "kept": ":shield:", "pending_approval": ":raising_hand:",
          "approved": ":white_check_mark:", "rejected": ":x:", "rolled_back": ":rewind:",
          "retrain_failed": ":rotating_light:", "retrain_interrupted": ":rotating_light:",
          "scheduler_takeover": ":arrows_counterclockwise:", "test": ":wave:"}


def _time(event: NotifyEvent) -> str:
    return event.ts.isoformat(timespec="seconds") + "Z"


def json_body(event: NotifyEvent) -> dict[str, Any]:
    """The ``json`` format: every field a program needs, keyed by ``event_id``."""
    return {"event_id": event.event_id, "event": event.type, "time": _time(event),
            "summary": event.summary, "reasons": list(event.reasons),
            "models": {"champion": event.champion_version,
                       "challenger": event.challenger_version},
            "subject": event.subject, "details": event.details}


def slack_body(event: NotifyEvent) -> dict[str, Any]:
    """The ``slack`` format: a ``text`` fallback and ``blocks`` (header line, reasons, ids)."""
    headline = f"{_EMOJI.get(event.type, ':bell:')} *spamops {event.type}*: {event.summary}"
    lines = [headline] + [f"> {reason}" for reason in event.reasons]
    context = f"event `{event.event_id}` · {_time(event)}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
    ]
    return {"text": "\n".join(lines), "blocks": blocks}


def render(event: NotifyEvent, hook: Webhook) -> tuple[bytes, dict[str, str]]:
    """The body bytes and headers of one delivery of ``event`` to ``hook``."""
    body = json_body(event) if hook.format == "json" else slack_body(event)
    data = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "spamops-webhook",
               EVENT_ID_HEADER: event.event_id, EVENT_HEADER: event.type}
    if hook.secret is not None:
        headers[SIGNATURE_HEADER] = sign(data, hook.secret.get_secret_value())
    return data, headers


def sign(body: bytes, secret: str) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``body`` keyed by ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` (constant-time comparison)."""
    return header is not None and hmac.compare_digest(sign(body, secret), header)
