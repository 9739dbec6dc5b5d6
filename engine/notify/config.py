"""The ``[notify]`` table of ``spamops.toml``: webhook receivers and delivery timing.

Each ``[[notify.webhooks]]`` entry is one receiver: where to POST (``url``), which events it
wants (``events``), the body shape (``format``: ``json`` or ``slack``) and an optional
``secret`` for the HMAC-SHA256 signature. The engine reads this model; it holds no I/O and
imports nothing heavy, because ``engine.config`` (loaded by every command) embeds it.
"""

from __future__ import annotations

import hashlib
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

EVENT_TYPES: tuple[str, ...] = (
    "drift_detected", "retrain_started", "deployed", "kept", "pending_approval", "approved",
    "rejected", "rolled_back", "retrain_failed", "retrain_interrupted", "scheduler_takeover",
)
"""Every event a receiver can subscribe to, in the order a cycle produces them."""

TEST_EVENT = "test"
"""The event ``spamops notify test`` sends to every receiver, whatever it subscribed to."""


class Webhook(BaseModel):
    """One receiver: ``[[notify.webhooks]]`` in ``spamops.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    url: str
    """Where events are POSTed (``http://`` or ``https://``)."""
    events: tuple[str, ...] = EVENT_TYPES
    """The events this receiver wants; default all of them."""
    format: Literal["json", "slack"] = "json"
    """``json`` (the spamops body) or ``slack`` (Slack's incoming-webhook shape, also accepted
    by Mattermost and Teams connectors)."""
    secret: SecretStr | None = None
    """When set, each body is signed: ``X-Spamops-Signature: sha256=<HMAC-SHA256 hex>``."""
    name: str | None = None
    """Name shown by ``notify status``; default the URL's host and a short hash of the URL."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [event for event in value if event not in EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown event {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}")
        if not value:
            raise ValueError("must name at least one event")
        return value

    @property
    def key(self) -> str:
        """The receiver's stable name in the outbox (``name``, else host + URL hash)."""
        if self.name:
            return self.name
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:8]
        return f"{urlsplit(self.url).hostname or 'webhook'}-{digest}"

    def public(self) -> dict[str, object]:
        """This receiver as shown by ``config show`` and recorded in the audit trail
        (the secret never appears, only whether there is one)."""
        return {"name": self.key, "url": self.url, "events": list(self.events),
                "format": self.format, "signed": self.secret is not None}


class NotifySettings(BaseModel):
    """Webhook receivers and how the outbox sender delivers to them."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    webhooks: tuple[Webhook, ...] = ()
    """Receivers of decision events (``[[notify.webhooks]]``)."""
    timeout_seconds: float = Field(10.0, gt=0)
    """How long one delivery attempt may take before it counts as failed."""
    initial_backoff_seconds: float = Field(5.0, gt=0)
    """Wait after a receiver's first failure; doubles with each further failure."""
    max_backoff_seconds: float = Field(300.0, gt=0)
    """Longest wait between two attempts, so a receiver back after an outage gets its events
    within this long."""
    give_up_hours: float = Field(72.0, gt=0)
    """A delivery still failing this long after its event is marked ``failed``."""
    poll_seconds: float = Field(5.0, gt=0)
    """How often the sender of a long-lived process looks for events written elsewhere."""

    @model_validator(mode="after")
    def _unique_names(self) -> NotifySettings:
        seen: set[str] = set()
        for hook in self.webhooks:
            if hook.key in seen:
                raise ValueError(f"two webhooks are named {hook.key!r}; give each a `name`")
            seen.add(hook.key)
        return self

    def receiver(self, key: str) -> Webhook | None:
        """The configured receiver with this key, if any."""
        return next((hook for hook in self.webhooks if hook.key == key), None)

    def subscribers(self, event_type: str) -> list[Webhook]:
        """Receivers that asked for ``event_type``."""
        return [hook for hook in self.webhooks if event_type in hook.events]
