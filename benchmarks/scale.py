"""Scale: N jobs scheduled on `* * * * *` plus M one-shot jobs created at once, on one operator.

A real local control plane, the simulator, and the operator as a separate process (local executor), all
jobs on one WallarooConnection and one 1-row input ConfigMap. After a warm-up job, the N scheduled and M
one-shot jobs are created as fast as the API server takes them; the benchmark then watches the jobs until
every one-shot job has succeeded and every scheduled job has succeeded for each of the next `--slots`
minute slots. Figures:

* schedule lag: status startTime - the slot (scheduled runs), startTime - creation (one-shot runs);
* time to Succeeded: when the benchmark's watch first sees the run Succeeded in status, minus the slot (or
  the creation time);
* CPU seconds and peak RSS of the operator's process tree (its workers included) and of kube-apiserver,
  with kube-apiserver's idle RSS before the jobs;
* API writes per run by verb, from the API server's apiserver_request_total (the benchmark's own creates
  subtracted), and events per run;
* token requests per token lifetime: the simulator's token grants over the watched time, per access-token
  lifetime (`--token-lifetime`, seconds; 1,000 jobs on one connection is item 4 of the issue);
* correctness: every watched slot ran exactly once per job (the simulator counts one inference request per
  1-row run; the run ids are the slots), no one-shot run lost.

    .venv/bin/python benchmarks/scale.py [--scheduled 1000] [--oneshot 200] [--slots 2] [--token-lifetime 120]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import apiserver_metrics
import cluster as clusters
import common

from wallaroo_operator import constants as c
from wallaroo_operator.rfc3339 import from_rfc3339


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)], 3)


class Watcher(threading.Thread):
    """Every run record seen in the jobs' status, with the wall-clock time it was first seen Succeeded."""

    def __init__(self, kube: Any, namespace: str):
        super().__init__(daemon=True, name="bench-watch")
        self._kube, self._namespace = kube, namespace
        self.succeeded: dict[tuple[str, str], tuple[float, dict]] = {}
        self.failed: dict[tuple[str, str], dict] = {}
        self.stopping = threading.Event()
        self.changed = threading.Condition()

    def run(self) -> None:
        import kubernetes

        custom = self._kube.custom
        while not self.stopping.is_set():
            listing = custom.list_namespaced_custom_object(c.GROUP, c.VERSION, self._namespace, c.JOB_PLURAL)
            for job in listing["items"]:
                self._seen(job)
            stream = kubernetes.watch.Watch().stream(
                custom.list_namespaced_custom_object,
                c.GROUP,
                c.VERSION,
                self._namespace,
                c.JOB_PLURAL,
                resource_version=listing["metadata"]["resourceVersion"],
                timeout_seconds=60,
            )
            try:
                for event in stream:
                    if event["type"] == "ERROR":
                        break  # e.g. 410 Gone: list again
                    self._seen(event["object"])
                    if self.stopping.is_set():
                        return
            except Exception as error:
                if self.stopping.is_set():
                    return
                print(f"watch restarted: {type(error).__name__}", file=sys.stderr)

    def _seen(self, job: dict) -> None:
        now = time.time()
        status = job.get("status") or {}
        records = [status.get("lastRun") or {}, *(status.get("history") or [])]
        name = job["metadata"]["name"]
        with self.changed:
            for record in records:
                key = (name, record.get("id", ""))
                if record.get("state") == "Succeeded" and key not in self.succeeded:
                    self.succeeded[key] = (now, record)
                elif record.get("state") == "Failed":
                    self.failed[key] = record
            self.changed.notify_all()


class Sampler(threading.Thread):
    """Peak RSS of the operator (its own process, and its tree) and of kube-apiserver, once a second."""

    def __init__(self, operator_pid: int, apiserver_pid: int):
        super().__init__(daemon=True, name="bench-sample")
        self._operator, self._apiserver = operator_pid, apiserver_pid
        self.operator_peak = self.tree_peak = self.apiserver_peak = 0.0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(1.0):
            tree = common.process_tree(self._operator)
            self.operator_peak = max(self.operator_peak, common.rss_mib(self._operator))
            self.tree_peak = max(self.tree_peak, sum(common.rss_mib(p) for p in tree))
            self.apiserver_peak = max(self.apiserver_peak, common.rss_mib(self._apiserver))


def tree_cpu(pid: int) -> float:
    return sum(common.process_cpu_seconds(p) for p in common.process_tree(pid))


def job_body(name: str, schedule: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "connectionRef": {"name": "wallaroo"},
        "workspace": "urldemoworkspace",
        "pipeline": "urldemopipeline",
        "input": {"configMaps": [{"name": "one-row"}]},
    }
    if schedule:
        spec["schedule"] = schedule
    return {"apiVersion": c.API_VERSION, "kind": c.JOB_KIND, "metadata": {"name": name}, "spec": spec}


def create_jobs(kube: Any, namespace: str, bodies: list[dict]) -> dict[str, float]:
    """Create them (8 at a time); returns each job's creation time."""
    created: dict[str, float] = {}

    def create(body: dict) -> None:
        kube.custom.create_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.JOB_PLURAL, body)
        created[body["metadata"]["name"]] = time.time()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, bodies))
    return created


def measure(args: argparse.Namespace) -> dict[str, Any]:
    with common.simulator() as sim, clusters.control_plane() as cluster:
        if args.token_lifetime:
            sim.admin.set_token_lifetimes(args.token_lifetime, max(args.token_lifetime * 2, 1800))
        kube = cluster.kube
        namespace = clusters.namespace_with_connection(cluster, sim, "bench-scale")
        kube.core.create_namespaced_config_map(
            namespace,
            {
                "metadata": {"name": "one-row"},
                "data": {"data.json": json.dumps({"text_input": common.tutorial_rows(1)})},
            },
        )
        with clusters.operator(cluster, namespace) as operator:
            watcher = Watcher(kube, namespace)
            watcher.start()
            create_jobs(kube, namespace, [job_body("warm-up", None)])
            wait_for(
                watcher,
                lambda: ("warm-up", "gen-1") in watcher.succeeded or _any_for(watcher, "warm-up"),
                120,
                "the warm-up job",
            )
            apiserver_idle = common.rss_mib(cluster.apiserver_pid)
            operator_idle = common.rss_mib(operator.pid)
            sampler = Sampler(operator.pid, cluster.apiserver_pid)
            sampler.start()
            metrics_before = apiserver_metrics.snapshot(kube.api)
            events_before = len(kube.core.list_namespaced_event(namespace).items)
            sim.admin.reset_counters()
            cpu_operator, cpu_apiserver = tree_cpu(operator.pid), common.process_cpu_seconds(cluster.apiserver_pid)
            watch_started = time.time()

            bodies = [job_body(f"sched-{i:04d}", "* * * * *") for i in range(args.scheduled)] + [
                job_body(f"once-{i:04d}", None) for i in range(args.oneshot)
            ]
            created = create_jobs(kube, namespace, bodies)
            all_created = max(created.values(), default=time.time())
            first_slot = math.floor(all_created / 60) * 60 + 60
            slots = [first_slot + 60 * k for k in range(args.slots)] if args.scheduled else []
            expected = {(f"sched-{i:04d}", str(s // 60)) for i in range(args.scheduled) for s in slots}
            expected_once = {f"once-{i:04d}" for i in range(args.oneshot)}

            def done() -> bool:
                succeeded = watcher.succeeded
                once_done = {name for (name, _) in succeeded if name in expected_once}
                return expected <= succeeded.keys() and once_done == expected_once

            deadline = (slots[-1] if slots else time.time()) + args.grace - time.time()
            timed_out = not wait_for(watcher, done, deadline, "all runs", must=False)
            watched_seconds = time.time() - watch_started
            cpu_operator = tree_cpu(operator.pid) - cpu_operator
            cpu_apiserver = common.process_cpu_seconds(cluster.apiserver_pid) - cpu_apiserver
            metrics_after = apiserver_metrics.snapshot(kube.api)
            counters = sim.admin.counters()
            events = kube.core.list_namespaced_event(namespace).items
            for job in kube.custom.list_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.JOB_PLURAL)["items"]:
                watcher._seen(job)  # what the watch may not have delivered yet
            sampler.stopping.set()
            watcher.stopping.set()

    with watcher.changed:
        succeeded = dict(watcher.succeeded)
    ours = {key: value for key, value in succeeded.items() if key[0] != "warm-up"}
    runs = len(ours)
    scheduled_lag, scheduled_done, once_lag, once_done = [], [], [], []
    for (name, _), (seen, record) in ours.items():
        start = from_rfc3339(record["startTime"]).timestamp() if record.get("startTime") else None
        if record.get("scheduledTime"):
            slot = from_rfc3339(record["scheduledTime"]).timestamp()
            if start is not None:
                scheduled_lag.append(start - slot)
            scheduled_done.append(seen - slot)
        elif name in created:
            if start is not None:
                once_lag.append(start - created[name])
            once_done.append(seen - created[name])
    writes = apiserver_metrics.by_verb(metrics_before, metrics_after)
    writes["POST"] = writes.get("POST", 0) - len(bodies)  # the benchmark's own creates
    write_total = sum(writes.values())
    inference_requests = sum(p["requests"] for p in counters.get("pipelines", {}).values())
    token_requests = sum(counters.get("grants", {}).values())
    lifetime = args.token_lifetime or 3600
    missed = sorted(expected - ours.keys())
    run_events = [e for e in events[events_before:] if e.involved_object.name != "warm-up"]
    succeeded_events: dict[tuple[str, str], int] = {}  # RunSucceeded per (job, run id): more than 1 is a repeat
    for event in run_events:
        if event.reason == "RunSucceeded" and (event.message or "").startswith("run "):
            key = (event.involved_object.name, event.message[4:].split(":", 1)[0])
            succeeded_events[key] = succeeded_events.get(key, 0) + (event.count or 1)
    repeated = sorted(key for key, count in succeeded_events.items() if count > 1)
    return {
        "scheduled_jobs": args.scheduled,
        "oneshot_jobs": args.oneshot,
        "slots": args.slots,
        "runs": runs,
        "timed_out": timed_out,
        "watched_seconds": round(watched_seconds, 1),
        "schedule_lag_p50_s": percentile(scheduled_lag, 50),
        "schedule_lag_p99_s": percentile(scheduled_lag, 99),
        "succeeded_after_slot_p50_s": percentile(scheduled_done, 50),
        "succeeded_after_slot_p99_s": percentile(scheduled_done, 99),
        "oneshot_start_p50_s": percentile(once_lag, 50),
        "oneshot_start_p99_s": percentile(once_lag, 99),
        "oneshot_succeeded_p50_s": percentile(once_done, 50),
        "oneshot_succeeded_p99_s": percentile(once_done, 99),
        "operator_cpu_s": round(cpu_operator, 1),
        "operator_cpu_s_per_run": common.ratio(cpu_operator, runs),
        "operator_idle_rss_mib": round(operator_idle, 1),
        "operator_peak_rss_mib": round(sampler.operator_peak, 1),
        "operator_tree_peak_rss_mib": round(sampler.tree_peak, 1),
        "apiserver_cpu_s": round(cpu_apiserver, 1),
        "apiserver_idle_rss_mib": round(apiserver_idle, 1),
        "apiserver_peak_rss_mib": round(sampler.apiserver_peak, 1),
        "api_writes_by_verb": writes,
        "api_writes_per_run": common.ratio(write_total, runs),
        "api_writes_by_resource": apiserver_metrics.by_resource(metrics_before, metrics_after),
        "events_per_run": common.ratio(len(run_events), runs),
        "token_requests": token_requests,
        "token_lifetime_s": lifetime,
        "token_requests_per_lifetime": round(token_requests / max(1.0, watched_seconds / lifetime), 2),
        "inference_requests": inference_requests,
        # Every watched slot recorded once per job (run ids are the slots), no run with two RunSucceeded events,
        # and at least one inference request per recorded run (runs still in flight at the end have sent theirs
        # without being recorded yet, so more requests than runs is no repeat).
        "correct": not missed and not repeated and inference_requests >= runs and not watcher.failed,
        "missed_slots": len(missed),
        "repeated_runs": len(repeated),
        "failed_runs": len(watcher.failed),
    }


def _any_for(watcher: Watcher, name: str) -> bool:
    return any(key[0] == name for key in watcher.succeeded)


def wait_for(watcher: Watcher, predicate, timeout: float, what: str, must: bool = True) -> bool:
    """Wait on the watcher's condition variable (woken by every status change) until `predicate` holds."""
    deadline = time.monotonic() + max(0.0, timeout)
    with watcher.changed:
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                if must:
                    raise TimeoutError(f"{what}: not within {timeout:.0f} s")
                return False
            watcher.changed.wait(min(left, 1.0))
    return True


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scheduled_n", nargs="?", type=int, help="N scheduled jobs (same as --scheduled)")
    parser.add_argument("oneshot_m", nargs="?", type=int, help="M one-shot jobs (same as --oneshot)")
    parser.add_argument("--scheduled", type=int, default=1000)
    parser.add_argument("--oneshot", type=int, default=200)
    parser.add_argument("--slots", type=int, default=2, help="minute slots every scheduled job must run")
    parser.add_argument("--grace", type=float, default=300, help="seconds after the last slot before giving up")
    parser.add_argument("--token-lifetime", type=int, default=120, help="access token lifetime at the simulator")
    args = parser.parse_args(argv)
    args.scheduled = args.scheduled if args.scheduled_n is None else args.scheduled_n
    args.oneshot = args.oneshot if args.oneshot_m is None else args.oneshot_m
    started = common.machine()
    figures = measure(args)
    result = {"benchmark": "scale", **started, "load_average_end": common.machine()["load_average"], **figures}
    common.emit(result)
    return result


if __name__ == "__main__":
    main()
