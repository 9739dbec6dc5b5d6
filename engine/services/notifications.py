"""Webhook notifications: the outbox sender of this process, tests, delivery status.

Owns starting, waking and stopping the ``OutboxSender`` (a short-lived CLI process that
enqueued events makes one delivery pass on ``close``), test deliveries, and each receiver's
health. Events are enqueued by the store in the writes' own transactions; this module must
not enqueue any itself.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from engine.errors import SpamopsError
from engine.records import OutboxDelivery, ReceiverHealth
from engine.services.core import ServicesBase

if TYPE_CHECKING:
    from engine.notify.sender import DeliveryResult, OutboxSender, PassSummary

logger = logging.getLogger("engine.services")


class NotificationsMixin(ServicesBase):
    """The webhook outbox of this data home, as seen from this process."""


    def _outbox_written(self) -> None:
        self._enqueued = True
        if self._sender is not None:
            self._sender.wake()

    def _outbox_sender(self) -> OutboxSender:
        if self._sender is None:
            from engine.notify.sender import OutboxSender

            with self._store_lock:  # never waits for the database (the API's start-up)
                store = self._store or self._unopened_store()
            self._sender = OutboxSender(store, self.settings.notify)
        return self._sender

    def start_notifier(self) -> bool:
        """Deliver webhook events in a background thread of this long-lived process (serve,
        monitor, console); ``False`` when no receiver is configured or the store is
        read-only. Stopped by ``close``."""
        if not self.settings.notify.webhooks or self.read_only:
            return False
        self._outbox_sender().start()
        return True

    def deliver_notifications(self) -> PassSummary:
        """Deliver every due webhook event now, in the calling thread (``notify send``)."""
        return self._outbox_sender().deliver_due()

    def notify_test(self) -> list[DeliveryResult]:
        """POST a test event to every configured receiver now (not through the outbox)."""
        from engine.notify.events import test_event

        return self._outbox_sender().send_test(lambda key: test_event(self.clock.now(), key))

    def notify_status(self, limit: int = 200) -> tuple[list[ReceiverHealth],
                                                       list[OutboxDelivery]]:
        """Each receiver's delivery health, and the pending and failed deliveries."""
        if not self._store_exists():
            return [ReceiverHealth(h.key, 0, 0, 0, 0, "", None, None, None)
                    for h in self.settings.notify.webhooks], []
        return self.store.receiver_health(), self.store.outbox_deliveries(limit=limit)

    def failing_receivers(self) -> list[ReceiverHealth]:
        """Receivers retrying or given up on since their last success (console, dashboard)."""
        if not self._store_exists():
            return []
        return [r for r in self.store.receiver_health() if r.failing]

    def _close_notifications(self) -> None:
        sender, self._sender = self._sender, None
        if sender is None and self._enqueued and self._store is not None:
            from engine.notify.sender import OutboxSender

            sender = OutboxSender(self._store, self.settings.notify)
        if sender is None:
            return
        try:
            if not sender.running and self._enqueued:
                self._enqueued = False
                sender.deliver_due()
        except SpamopsError as exc:
            logger.warning("notifications left in the outbox: %s", exc)
        finally:
            sender.stop()
