"""Write requests counted by the API server itself (apiserver_request_total from /metrics), by verb.

Until benchmarks/api_writes.py (owned by the controller work) lands, this small reader is the benchmarks' own:
a snapshot is {(verb, resource, subresource): count} for the write verbs; two snapshots subtract.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE", "APPLY", "CREATE", "UPDATE")
_LINE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def snapshot(api_client: Any) -> Counter[tuple[str, str, str]]:
    """Write requests so far, by (verb, resource, subresource), over all clients."""
    import requests

    config = api_client.configuration
    headers = {"Authorization": config.api_key["authorization"]} if config.api_key.get("authorization") else {}
    cert = (config.cert_file, config.key_file) if config.cert_file else None
    response = requests.get(
        config.host + "/metrics", headers=headers, cert=cert, verify=config.ssl_ca_cert or True, timeout=30
    )
    response.raise_for_status()
    text = response.text
    counts: Counter[tuple[str, str, str]] = Counter()
    for line in text.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        if labels.get("verb", "").upper() in WRITE_VERBS:
            counts[(labels["verb"], labels.get("resource", ""), labels.get("subresource", ""))] += int(
                float(match["value"])
            )
    return counts


def by_verb(before: Counter[tuple[str, str, str]], after: Counter[tuple[str, str, str]]) -> dict[str, int]:
    delta = after - before
    verbs: Counter[str] = Counter()
    for (verb, _, _), count in delta.items():
        verbs[verb] += count
    return dict(verbs)


def by_resource(before: Counter[tuple[str, str, str]], after: Counter[tuple[str, str, str]]) -> dict[str, int]:
    delta = after - before
    return {f"{verb} {resource}{'/' + sub if sub else ''}": n for (verb, resource, sub), n in sorted(delta.items())}
