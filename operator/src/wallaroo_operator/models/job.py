"""InferenceJob: run a Wallaroo pipeline over input data held in ConfigMaps, once or on a schedule."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from wallaroo_operator.models.base import KubeModel
from wallaroo_operator.models.conditions import Condition
from wallaroo_operator.models.execution import ExecutionSpec, RunProgress
from wallaroo_operator.models.objectstore import ObjectStoreInput, ObjectStoreResults
from wallaroo_operator.models.refs import CONFIG_KEY, DNS_SUBDOMAIN, LocalObjectReference
from wallaroo_operator.schedule.cron import SCHEDULE_PATTERN, TIME_ZONE_PATTERN
from wallaroo_operator.wallaroo.formats import RowOutputs

# The API server rejects what a pattern can catch (five cron fields or an @macro; an IANA-shaped zone);
# the operator's parser catches the rest (61 minutes, Mars/Olympus) with a condition.
CRON_PATTERN = SCHEDULE_PATTERN


class InputConfigMap(KubeModel):
    name: str = Field(description="ConfigMap name.", min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)
    key: str | None = Field(
        default=None, pattern=CONFIG_KEY, description="Key in data or binaryData; defaults to input.key."
    )


class LabelSelector(KubeModel):
    match_labels: dict[str, str] = Field(description="Labels every input ConfigMap carries.", min_length=1)


class InputSpec(KubeModel):
    """Input rows: the tutorial's JSON ({"text_input": [[...], ...]}) or pandas-records
    ([{"tensor": [...]}, ...]), plain in data or gzip-compressed in binaryData. Input larger than
    one ConfigMap (1 MiB) is split across several, read in order and concatenated."""

    config_maps: list[InputConfigMap] | None = Field(
        default=None, min_length=1, max_length=1000, description="ConfigMaps read in the order listed."
    )
    selector: LabelSelector | None = Field(
        default=None,
        description="Select ConfigMaps by label instead; they are read in name order "
        "(numbers in names compare as numbers: part-2 before part-10).",
    )
    key: str = Field(
        default="data.json",
        pattern=CONFIG_KEY,
        description="Key holding the data in each ConfigMap (data or binaryData).",
    )
    object_store: ObjectStoreInput | None = Field(
        default=None, description="Read the rows from S3-compatible object storage instead (docs/objectstore.md)."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.objectStore) || has(self.configMaps) != has(self.selector)",
                    "message": "give exactly one of configMaps, selector and objectStore",
                },
                {
                    "rule": "!has(self.objectStore) || !has(self.configMaps) && !has(self.selector)",
                    "message": "give exactly one of configMaps, selector and objectStore",
                },
            ]
        }
    )


class InferenceSpec(KubeModel):
    format: Literal["legacy", "pandas-records", "arrow"] = Field(
        default="legacy",
        description='Request format: legacy is the tutorial\'s {"<input>": [[...]]} '
        "JSON; pandas-records sends one record per row; arrow sends an Arrow "
        "IPC file (application/vnd.apache.arrow.file).",
    )
    batch_size: int = Field(default=1000, ge=1, le=100000, description="Rows per inference request.")
    parallelism: int = Field(default=2, ge=1, le=64, description="At most this many requests in flight.")
    request_timeout_seconds: float = Field(default=15, gt=0, le=3600, description="Timeout of one request.")
    retry_budget: int = Field(
        default=20,
        ge=0,
        le=10000,
        description="Retries allowed per run across all batches (timeouts, connection "
        "errors, 5xx and 429); other 4xx are never retried.",
    )


class ResultsSpec(KubeModel):
    inline_limit_bytes: int = Field(
        default=4096,
        ge=0,
        le=65536,
        description="Outputs up to this size (JSON) are also written into status.lastRun.outputs.",
    )
    config_maps: Literal["IfNotInline", "Always"] = Field(
        default="IfNotInline",
        description="IfNotInline: a run whose outputs fit status.lastRun.outputs (and has one shard) gets no "
        "results ConfigMap, two API writes fewer per run; earlier runs in the history keep their summary only. "
        "Always: every run's outputs are also stored in results ConfigMaps, kept while the run is in the history.",
    )
    max_config_maps: int = Field(
        default=20,
        ge=1,
        le=500,
        description="A run whose results need more ConfigMaps than this fails "
        "with ResultsTooLarge instead of flooding etcd.",
    )
    object_store: ObjectStoreResults | None = Field(
        default=None, description="Write per-row results to S3-compatible object storage (docs/objectstore.md)."
    )


class InferenceJobSpec(KubeModel):
    """What to run: a Wallaroo pipeline in a workspace, over input held in ConfigMaps. Without a
    schedule the job runs once per spec change; with one it runs at every slot, like a CronJob."""

    connection_ref: LocalObjectReference = Field(description="The WallarooConnection to use.")
    workspace: str = Field(min_length=1, max_length=255, description="Workspace name (matched exactly).")
    pipeline: str = Field(min_length=1, max_length=255, description="Pipeline name in that workspace.")
    input: InputSpec = Field(description="Where the input rows are.")
    inference: InferenceSpec = Field(
        default_factory=InferenceSpec, json_schema_extra={"default": {}}, description="How requests are sent."
    )
    results: ResultsSpec = Field(
        default_factory=ResultsSpec, json_schema_extra={"default": {}}, description="Where and how results are kept."
    )
    execution: ExecutionSpec = Field(
        default_factory=ExecutionSpec,
        json_schema_extra={"default": {}},
        description="Where each run's worker executes: Pods of a Job (shards, "
        "resources, scheduling) or a child process of the operator.",
    )
    backoff_limit: int = Field(
        default=3, ge=0, le=100, description="Retries of a run that failed with a transient error."
    )
    active_deadline_seconds: int | None = Field(
        default=None,
        ge=1,
        description="A run taking longer, counted from its start (waits and retries included), is cancelled.",
    )
    schedule: str | None = Field(
        default=None,
        pattern=CRON_PATTERN,
        max_length=256,
        description="Cron schedule (5 fields or @hourly, @daily, ...). Without it the job runs once per spec change.",
    )
    time_zone: str = Field(
        default="UTC",
        min_length=1,
        max_length=64,
        pattern=TIME_ZONE_PATTERN,
        description="IANA time zone of the schedule.",
    )
    suspend: bool = Field(default=False, description="Start no new scheduled runs while true.")
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = Field(
        default="Allow",
        description="When a slot comes while a run is active: Allow (run both), "
        "Forbid (skip the new slot) or Replace (cancel the running one).",
    )
    starting_deadline_seconds: int | None = Field(
        default=None, ge=0, description="A missed slot older than this is skipped, not started late."
    )
    successful_runs_history_limit: int = Field(
        default=3, ge=0, le=100, description="Successful runs (and their results) kept."
    )
    failed_runs_history_limit: int = Field(default=1, ge=0, le=100, description="Failed runs (and their results) kept.")


class OutputSummary(KubeModel):
    min: float | None = None
    mean: float | None = None
    max: float | None = None
    count: int = 0


class RunRecord(KubeModel):
    """One run of the job."""

    id: str = Field(description="Deterministic run id (from the generation, the schedule slot, or run-now).")
    trigger: Literal["Spec", "Schedule", "Manual"] = Field(description="What started the run.")
    state: Literal["Pending", "Running", "Succeeded", "Failed", "Cancelled"] = Field(
        description="Pending (waiting for a missing Secret, ConfigMap or connection), Running, or how it ended."
    )
    generation: int | None = Field(
        default=None, description="The job's metadata.generation the run was started from (the spec it ran with)."
    )
    scheduled_time: str | None = Field(default=None, description="The schedule slot it ran for.")
    start_time: str | None = None
    completion_time: str | None = None
    attempt: int = Field(default=1, description="1, or more when retried or restarted.")
    restarted: bool | None = Field(
        default=None, description="True when the operator stopped mid-run and started the run again from the beginning."
    )
    recovered: bool | None = Field(
        default=None,
        description="True when the run finished while its status could "
        "not be written (API server away, operator "
        "restarted), and was recorded from its results "
        "ConfigMaps or its results' _manifest.json in object "
        "storage; batches and retries are then unknown.",
    )
    adopted: bool | None = Field(
        default=None,
        description="True when the operator restarted mid-run and "
        "followed the run's worker (a Job) instead of starting "
        "it again.",
    )
    rows: int | None = None
    batches: int | None = None
    retries: int | None = None
    duration_seconds: float | None = None
    result_config_maps: list[str] | None = Field(default=None, description="ConfigMaps with per-row outputs.")
    results_uri: str | None = Field(
        default=None,
        description="results.objectStore: where the run's parts are "
        "(s3://bucket/<prefix>/<namespace>/<job>/<run id>/).",
    )
    results_manifest: str | None = Field(
        default=None,
        description="results.objectStore: the run's _manifest.json, written last (rows, parts, checksums, schema).",
    )
    result_parts: int | None = Field(default=None, description="results.objectStore: how many parts it wrote.")
    partial: bool | None = Field(default=None, description="True when cancelled: results cover some rows only.")
    summary: dict[str, OutputSummary] | None = Field(default=None, description="Per-output min/mean/max.")
    outputs: list[RowOutputs] | None = Field(
        default=None, description="Per-row outputs, when small enough (results.inlineLimitBytes)."
    )
    progress: RunProgress | None = Field(default=None, description="Rows done and left while it runs.")
    reason: str | None = Field(default=None, description="Why it failed (CamelCase).")
    error: str | None = Field(default=None, description="What went wrong.")


class InferenceJobStatus(KubeModel):
    observed_generation: int | None = None
    phase: Literal["Pending", "Running", "Succeeded", "Failed", "Scheduled", "Suspended"] | None = Field(
        default=None, description="A one-word summary for humans; conditions are the API."
    )
    conditions: list[Condition] | None = None
    workspace_id: int | None = Field(default=None, description="The resolved workspace id.")
    inference_url: str | None = Field(default=None, description="The pipeline's resolved external inference URL.")
    last_run: RunRecord | None = Field(default=None, description="The most recent run.")
    active: list[RunRecord] | None = Field(default=None, description="Runs in progress.")
    history: list[RunRecord] | None = Field(
        default=None,
        description="Finished runs within the history limits, newest start first (without the "
        "inline outputs and the summary, which lastRun shows).",
    )
    last_schedule_time: str | None = None
    last_successful_time: str | None = None
    next_schedule_time: str | None = None
    last_skipped_time: str | None = Field(default=None, description="The newest slot skipped (and reported).")
    handled_run_now: str | None = Field(default=None, description="The last run-now annotation value acted on.")
