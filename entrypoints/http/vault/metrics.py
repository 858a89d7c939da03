"""``GET /metrics`` (roles ``auditor``, ``admin``): Prometheus text exposition of the vault's counters.

Counters are read from the live services at scrape time (no global registry): HSM round trips,
reveals by outcome. ``bench/vault.py`` divides HSM calls by operations with them.
"""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.datastructures import State
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from entrypoints.http.security import roles


class VaultCollector:
    def __init__(self, container) -> None:
        self._container = container

    def collect(self):
        hsm = CounterMetricFamily("bursar_vault_hsm_calls", "Round trips to the HSM (sessions lent out).")
        hsm.add_metric([], self._container.hsm().calls)
        yield hsm
        reveals = CounterMetricFamily("bursar_vault_reveals", "Reveal requests by outcome.", labels=["outcome"])
        for outcome, count in self._container.reveals().counts.items():
            reveals.add_metric([outcome], count)
        yield reveals


def registry_for(container) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(VaultCollector(container))
    return registry


class MetricsController(Controller):
    tags = ["operations"]
    opt = roles("auditor", "admin")

    @get("/metrics", summary="Prometheus metrics")
    async def metrics(self, state: State) -> Response[bytes]:
        return Response(generate_latest(state.metrics), media_type=CONTENT_TYPE_LATEST)
