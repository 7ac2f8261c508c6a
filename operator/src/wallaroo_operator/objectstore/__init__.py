"""S3-compatible object storage as a job's input and result sink: plain typed modules, no Kubernetes.

The caller (the run's worker) resolves the spec's Secret and CA bundle (kube.references:
read_object_store_credentials, and read_ca_bundle written to a file), then:

    store = ObjectStore(settings_from_spec(spec.input.object_store, credentials, ca_file))
    plan = plan_input(store, key=..., prefix=..., format=...)         # once per run, metadata only
    plan = InputPlan.from_dict(plan.to_dict())                        # the same plan in every shard
    for batch in read_shard(store, plan, shard_index, shard_count, column=...): ...
    sink = ResultSink(store, RunIdentity(namespace, job, run_id, job_uid), prefix=..., format=...)
    sink.write_shard(shard_index, outputs); sink.finish(started=..., finished=...)

Design and guarantees: docs/objectstore.md.
"""

from wallaroo_operator.models.objectstore import ObjectStoreConnection
from wallaroo_operator.objectstore.client import (
    Credentials,
    ObjectInfo,
    ObjectStore,
    S3Settings,
)
from wallaroo_operator.objectstore.errors import ObjectStoreError
from wallaroo_operator.objectstore.reading import RowBatch
from wallaroo_operator.objectstore.sharding import (
    InputPlan,
    plan_input,
    read_all,
    read_shard,
)
from wallaroo_operator.objectstore.sink import (
    MANIFEST,
    PartInfo,
    ResultSink,
    RunIdentity,
    prune_runs,
    run_prefix,
)


def settings_from_spec(
    spec: ObjectStoreConnection, credentials: Credentials | None, ca_bundle_file: str | None = None
) -> S3Settings:
    """The client settings for a spec whose Secret (credentials) and CA bundle (a PEM file) are resolved."""
    return S3Settings(
        bucket=spec.bucket,
        endpoint=spec.endpoint,
        region=spec.region,
        path_style=spec.path_style,
        credentials=credentials,
        ca_bundle_file=ca_bundle_file,
    )


__all__ = [
    "MANIFEST",
    "Credentials",
    "InputPlan",
    "ObjectInfo",
    "ObjectStore",
    "ObjectStoreError",
    "PartInfo",
    "ResultSink",
    "RowBatch",
    "RunIdentity",
    "S3Settings",
    "plan_input",
    "prune_runs",
    "read_all",
    "read_shard",
    "run_prefix",
    "settings_from_spec",
]
