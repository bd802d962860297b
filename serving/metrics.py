"""Prometheus metrics of one app instance (its own registry, so test apps never collide)."""

from __future__ import annotations

from collections import Counter as Tally
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

if TYPE_CHECKING:
    from serving.schemas import SettlementOut


class Metrics:
    """Request latency, decisions by outcome and money held."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "cpeguard_request_seconds",
            "request latency",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self.decisions = Counter(
            "cpeguard_decisions", "settled posts by decision", ["decision"], registry=self.registry
        )
        self.held = Counter(
            "cpeguard_money_held",
            "amount held for review by settlements",
            ["currency"],
            registry=self.registry,
        )
        self.withheld = Counter(
            "cpeguard_money_withheld", "amount not paid by settlements", ["currency"], registry=self.registry
        )
        self.signoffs = Counter(
            "cpeguard_settlements_needing_signoff",
            "settlements over the withholding cap",
            registry=self.registry,
        )

    def observe_request(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """Record one request."""
        self.latency.labels(method=method, route=route, status=str(status)).observe(seconds)

    def record_settlement(self, settlement: SettlementOut) -> None:
        """Count a new settlement's decisions and money."""
        for decision, n in Tally(line.decision for line in settlement.posts).items():
            self.decisions.labels(decision=decision).inc(n)
        self.held.labels(currency=settlement.currency).inc(float(settlement.totals.held))
        self.withheld.labels(currency=settlement.currency).inc(float(settlement.totals.withheld))
        if settlement.needs_signoff:
            self.signoffs.inc()

    def exposition(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
