"""The outbox sender: delivers webhook events the store has committed, at least once.

Events reach the outbox table in the same transaction as the decision that caused them
(``Store.save_decision(..., events=...)`` and its siblings), so a crash can never lose one
that was decided. ``OutboxSender.deliver_due`` claims due deliveries (a short lease, so two
processes rarely send the same one), POSTs each with httpx, and records the outcome: a 2xx
marks it delivered; anything else schedules a retry with exponential back-off (``initial *
2**(attempts-1)``, capped at ``max_backoff_seconds``, +-20% jitter) until ``give_up_hours``
after it was written. A crash between the POST and the record re-sends it later; receivers drop
duplicates by ``event_id``. Per receiver, deliveries go out oldest first, and a receiver that is
backing off is not tried again until its back-off ends (the store's claim skips it).

Long-lived processes (serve, monitor, console) run ``start()``: a daemon thread that wakes
every ``poll_seconds`` or when this process enqueues (``wake``). Nothing here raises into its
caller's thread: a failing store or receiver is logged. This module owns no SQL (the store's
``outbox`` methods do) and no decisions.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from engine.notify.config import NotifySettings, Webhook
from engine.notify.events import NotifyEvent
from engine.notify.payloads import render
from engine.records import OutboxDelivery

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

LEASE_MARGIN_SECONDS = 5.0
"""A claim lasts the POST's timeout plus this, per receiver of the round: long enough for the
round, short enough that a crashed sender's claims soon pass to another process."""


def wall_now() -> datetime:
    """Naive UTC wall-clock time: retries happen in real time, whatever the engine clock."""
    return datetime.now(UTC).replace(tzinfo=None)


class OutboxStore(Protocol):
    """What the sender needs from the store (``engine.store.Store`` implements it)."""

    def outbox_due(self, *, now: datetime, receivers: Sequence[str]) -> int:
        """How many pending deliveries are due and unleased (read-only)."""
        ...

    def claim_outbox(self, *, now: datetime, lease_until: datetime,
                     receivers: Sequence[str]) -> list[OutboxDelivery]:
        """Lease the oldest pending delivery of each receiver, when it is due."""
        ...

    def record_delivery_attempt(self, delivery_id: str, *, at: datetime, error: str | None,
                                next_attempt_at: datetime | None, give_up: bool) -> None:
        """Record one attempt: delivered (``error`` None), retry later, or give up."""
        ...


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one POST."""

    receiver: str
    event_id: str
    ok: bool
    status_code: int | None
    error: str
    """Empty when ``ok``; else one line (``HTTP 503``, ``connection refused``...)."""


@dataclass(frozen=True)
class PassSummary:
    """What one ``deliver_due`` pass did."""

    delivered: int = 0
    retrying: int = 0
    gave_up: int = 0


def backoff_seconds(attempts: int, settings: NotifySettings,
                    jitter: Callable[[], float] = lambda: random.uniform(0.8, 1.2)) -> float:
    """Wait before attempt ``attempts + 1`` after ``attempts`` failures (>= 1)."""
    base: float = settings.initial_backoff_seconds * 2.0 ** max(0, attempts - 1)
    return min(base, settings.max_backoff_seconds) * jitter()


def post(client: httpx.Client, hook: Webhook, event: NotifyEvent) -> DeliveryResult:
    """POST ``event`` to ``hook``; never raises for network or HTTP errors."""
    import httpx

    body, headers = render(event, hook)
    try:
        response = client.post(hook.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return DeliveryResult(hook.key, event.event_id, False, None, message[:300])
    if 200 <= response.status_code < 300:
        return DeliveryResult(hook.key, event.event_id, True, response.status_code, "")
    return DeliveryResult(hook.key, event.event_id, False, response.status_code,
                          f"HTTP {response.status_code}")


class OutboxSender:
    """Delivers the outbox of one data home to the configured receivers."""

    def __init__(self, store: OutboxStore, settings: NotifySettings, *,
                 now: Callable[[], datetime] = wall_now) -> None:
        self._store = store
        self._settings = settings
        self._now = now
        self._client: httpx.Client | None = None
        self._pass_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def settings(self) -> NotifySettings:
        """The receivers and timing in force."""
        return self._settings

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=self._settings.timeout_seconds,
                                        follow_redirects=False, trust_env=False)
        return self._client

    def deliver_due(self, max_rounds: int = 10_000) -> PassSummary:
        """Deliver everything due now (claim, POST, record), in rounds of at most one
        delivery per receiver, until no receiver has a due delivery left; safe from any
        thread. A receiver that fails waits for its back-off; the others go on.

        Raises:
            StoreError: the store could not be read or written (callers in threads log it).
        """
        hooks = self._settings.webhooks
        if not hooks:
            return PassSummary()
        with self._pass_lock:
            delivered = retrying = gave_up = 0
            open_receivers = [hook.key for hook in hooks]
            if not self._store.outbox_due(now=self._now(), receivers=open_receivers):
                return PassSummary()  # the idle poll: one read, no write transaction
            for _ in range(max_rounds):
                if self._stop.is_set() or not open_receivers:
                    break
                now = self._now()
                lease = now + timedelta(seconds=len(open_receivers) * (
                    self._settings.timeout_seconds + LEASE_MARGIN_SECONDS))
                claimed = self._store.claim_outbox(now=now, lease_until=lease,
                                                   receivers=open_receivers)
                if not claimed:
                    break
                for delivery in claimed:
                    outcome = self._attempt(delivery)
                    delivered += outcome == "delivered"
                    retrying += outcome == "retrying"
                    gave_up += outcome == "gave up"
                    if outcome != "delivered":  # one failure per receiver and pass is enough
                        open_receivers.remove(delivery.receiver)
            return PassSummary(delivered, retrying, gave_up)

    def _attempt(self, delivery: OutboxDelivery) -> str:
        hook = self._settings.receiver(delivery.receiver)
        if hook is None:  # not claimable: claim_outbox only takes configured receivers
            return "skipped"
        result = post(self._http(), hook, NotifyEvent.from_json(delivery.payload))
        at = self._now()
        if result.ok:
            self._store.record_delivery_attempt(delivery.id, at=at, error=None,
                                                next_attempt_at=None, give_up=False)
            return "delivered"
        attempts = delivery.attempts + 1
        give_up = at - delivery.created_at >= timedelta(hours=self._settings.give_up_hours)
        retry_at = at + timedelta(seconds=backoff_seconds(attempts, self._settings))
        self._store.record_delivery_attempt(delivery.id, at=at, error=result.error,
                                            next_attempt_at=retry_at, give_up=give_up)
        logger.warning("webhook %s: delivery of %s %s failed (%s), attempt %d%s",
                       hook.key, delivery.event_type, delivery.event_id, result.error,
                       attempts, "; giving up" if give_up else "")
        return "gave up" if give_up else "retrying"

    def send_test(self, event_for: Callable[[str], NotifyEvent]) -> list[DeliveryResult]:
        """POST a test event to every receiver now, bypassing the outbox."""
        return [post(self._http(), hook, event_for(hook.key)) for hook in self._settings.webhooks]

    # The background thread --------------------------------------------------------------
    def start(self) -> None:
        """Deliver in a daemon thread until ``stop``; no-op without receivers or if started."""
        if not self._settings.webhooks or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="spamops-outbox", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the background thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Make the background thread look at the outbox now (after this process enqueued)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception as exc:  # the thread must outlive a busy store or a bad row
                logger.warning("outbox sender: %s", str(exc).splitlines()[0] if str(exc)
                               else type(exc).__name__)
            self._wake.wait(self._settings.poll_seconds)
            self._wake.clear()

    def stop(self) -> None:
        """Stop the thread (waits for the attempt in flight, at most the timeout) and close."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._settings.timeout_seconds + 5)
        self._thread = None
        if self._client is not None:
            self._client.close()
            self._client = None
