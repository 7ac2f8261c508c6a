"""Request counters, so tests can assert what a client did (e.g. how many tokens the operator asked for)."""

from __future__ import annotations

from collections import Counter, defaultdict

ANONYMOUS = "-"  # requests without a valid token


class Counters:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._requests: Counter[str] = Counter()
        self._statuses: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._clients: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._grants: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._pipeline_requests: Counter[str] = Counter()
        self._pipeline_rows: Counter[str] = Counter()

    def record_request(self, endpoint: str, client_id: str, status: int | str) -> None:
        """One request; ``status`` is the HTTP status, "dropped" (by a fault) or "client-closed" (gone first)."""
        self._requests[endpoint] += 1
        self._statuses[endpoint][str(status)] += 1
        self._clients[client_id][endpoint] += 1

    def record_grant(self, client_id: str, grant_type: str) -> None:
        self._grants[client_id][grant_type] += 1

    def record_inference(self, pipeline: str, rows: int) -> None:
        """An inference request answered with results for ``rows`` rows."""
        self._pipeline_requests[pipeline] += 1
        self._pipeline_rows[pipeline] += rows

    def snapshot(self) -> dict[str, object]:
        grants_total: Counter[str] = sum(self._grants.values(), Counter())
        return {
            "requests": dict(self._requests),
            "statuses": {endpoint: dict(c) for endpoint, c in self._statuses.items()},
            "clients": {client: dict(c) for client, c in self._clients.items()},
            "grants": dict(grants_total),
            "grants_by_client": {client: dict(c) for client, c in self._grants.items()},
            "pipelines": {
                name: {"requests": n, "rows": self._pipeline_rows[name]} for name, n in self._pipeline_requests.items()
            },
        }
