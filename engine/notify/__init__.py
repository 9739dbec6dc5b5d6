"""Webhook notifications of decisions, delivered durably through an outbox (issue 17).

- ``config``: the ``[notify]`` settings (``Webhook``, ``NotifySettings``, ``EVENT_TYPES``);
- ``events``: ``NotifyEvent`` and the builders that turn monitor records into events;
- ``payloads``: the ``json`` and ``slack`` bodies and the HMAC-SHA256 signature;
- ``sender``: ``OutboxSender``, which delivers committed events with retries and back-off.

The outbox table and its SQL belong to the store (``engine/store``); this package never opens
the database and imports httpx only when it sends.
"""

from engine.notify.config import EVENT_TYPES, TEST_EVENT, NotifySettings, Webhook
from engine.notify.events import NotifyEvent

__all__ = ["EVENT_TYPES", "TEST_EVENT", "NotifyEvent", "NotifySettings", "Webhook"]
