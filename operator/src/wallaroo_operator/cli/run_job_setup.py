"""Everything `run-job` gathers before the first row is sent: the documents of the -f files, the job
(checked as the API server would), its connection and credentials, the input and the results' place,
and then, from Wallaroo, the workspace id and the pipeline's inference URL (the run's manifest)."""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from wallaroo_operator import constants as c
from wallaroo_operator.cli.run_job_inputs import (
    InputParts,
    UsageError,
    config_map_parts,
    file_parts,
    object_store_parts,
)
from wallaroo_operator.cli.run_job_results import Sink
from wallaroo_operator.models.connection import WallarooConnectionSpec
from wallaroo_operator.models.job import InferenceJobSpec
from wallaroo_operator.worker.manifest import SECRET_ENVS, RunManifest

GROUP_PREFIX = "wallaroo.inferops.dev/"
LOCAL_MAX_CHUNKS = 500  # results.maxConfigMaps' maximum


def read_documents(names: list[str]) -> list[dict[str, Any]]:
    """Every mapping document of every file (a `kind: List` item by item), in order."""
    from wallaroo_operator.cli.validate import documents, yaml_problem

    found: list[dict[str, Any]] = []
    for name in names:
        label = "<stdin>" if name == "-" else name
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"cannot read {label}: {getattr(error, 'strerror', None) or error}") from None
        try:
            found += [d.body for d in documents(label, text) if isinstance(d.body, dict)]
        except yaml.YAMLError as error:
            raise UsageError(f"{label}: not valid YAML: {yaml_problem(error)}") from None
    return found


def _of_kind(documents: list[dict[str, Any]], kind: str, group: bool = True) -> list[dict[str, Any]]:
    return [
        d
        for d in documents
        if d.get("kind") == kind and (not group or str(d.get("apiVersion", "")).startswith(GROUP_PREFIX))
    ]


def _name(document: dict[str, Any]) -> str:
    return str((document.get("metadata") or {}).get("name") or "")


def pick_job(documents: list[dict[str, Any]], wanted: str | None) -> dict[str, Any]:
    jobs = _of_kind(documents, "InferenceJob")
    if wanted is not None:
        jobs = [job for job in jobs if _name(job) == wanted]
    if len(jobs) == 1:
        return jobs[0]
    if not jobs:
        raise UsageError(f"no InferenceJob{' named ' + wanted if wanted else ''} in the -f files")
    raise UsageError(f"{len(jobs)} InferenceJobs in the -f files ({', '.join(map(_name, jobs))}); pick one with --job")


def _problems(document: dict[str, Any]) -> list[str]:
    """The CRD schema and CEL rules (the cli extra), else the pydantic model alone."""
    try:
        from wallaroo_operator import manifest_check
    except ImportError:
        return []
    return [str(problem) for problem in manifest_check.check_manifest(document)]


def checked_spec(job: dict[str, Any]) -> InferenceJobSpec:
    import pydantic

    problems = _problems(job)
    if problems:
        raise UsageError(f"InferenceJob {_name(job) or 'unnamed'} is invalid: " + "; ".join(problems[:5]))
    try:
        return InferenceJobSpec.model_validate(job.get("spec") or {})
    except pydantic.ValidationError as error:
        from wallaroo_operator.controller.errors import classify

        raise UsageError(f"InferenceJob {_name(job)} is invalid: {classify(error).message}") from None


def connection_spec(documents: list[dict[str, Any]], name: str, job: str) -> WallarooConnectionSpec:
    import pydantic

    found = [d for d in _of_kind(documents, "WallarooConnection") if _name(d) == name]
    if not found:
        raise UsageError(
            f"InferenceJob {job} uses the WallarooConnection {name}, which is not in the -f files; "
            "add its manifest with another -f"
        )
    problems = _problems(found[0])
    if problems:
        raise UsageError(f"WallarooConnection {name} is invalid: " + "; ".join(problems[:5]))
    try:
        return WallarooConnectionSpec.model_validate(found[0].get("spec") or {})
    except pydantic.ValidationError as error:
        raise UsageError(f"WallarooConnection {name} is invalid: {error.errors()[0]['msg']}") from None


def wallaroo_credentials(file: Path | None, grant: str) -> dict[str, str]:
    """client_secret (and username, password for the password grant) from the file or the environment.
    Messages name the keys and variables, never a value."""
    needed = {"client_secret": c.CLIENT_SECRET_KEY}
    if grant == "password":
        needed.update(username=c.USERNAME_KEY, password=c.PASSWORD_KEY)
    if file is None:
        values = {what: os.environ.get(SECRET_ENVS[what], "") for what in needed}
        missing = [SECRET_ENVS[what] for what, value in values.items() if not value]
        if missing:
            raise UsageError(f"no credentials: set {', '.join(missing)} or give --credentials FILE")
        return values
    data = _credentials_file(file)
    missing = [key for key in needed.values() if not data.get(key)]
    if missing:
        raise UsageError(f"--credentials {file}: no {', '.join(missing)} in it")
    return {what: data[key] for what, key in needed.items()}


def _credentials_file(file: Path) -> dict[str, str]:
    try:
        body = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        why = getattr(error, "strerror", None) or error
        raise UsageError(f"--credentials {file}: cannot read it ({why})") from None
    except yaml.YAMLError:  # PyYAML's message quotes the text around the error: it could be the secret
        raise UsageError(f"--credentials {file}: not valid YAML or JSON") from None
    if not isinstance(body, dict):
        raise UsageError(f"--credentials {file}: expected a mapping of clientSecret, username, password")
    if body.get("kind") != "Secret":
        return {str(k): str(v) for k, v in body.items() if v is not None}
    values = {str(k): str(v) for k, v in (body.get("stringData") or {}).items()}
    for key, encoded in (body.get("data") or {}).items():
        try:
            values.setdefault(str(key), base64.b64decode(str(encoded), validate=True).decode())
        except (binascii.Error, ValueError):
            raise UsageError(f"--credentials {file}: data.{key} is not valid base64") from None
    return values


def input_parts(args: argparse.Namespace, spec: InferenceJobSpec, documents: list[dict[str, Any]]) -> InputParts:
    if args.input:
        return file_parts(args.input, args.column)
    if spec.input.object_store is not None:
        from wallaroo_operator.objectstore import ObjectStore, settings_from_spec

        store = ObjectStore(settings_from_spec(spec.input.object_store, None, _store_ca(spec.input.object_store)))
        return object_store_parts(store, spec.input.object_store)
    config_maps = {_name(d): d for d in _of_kind(documents, "ConfigMap", group=False)}
    parts = config_map_parts(spec.input, config_maps)
    return lambda: iter(parts)


def _store_ca(spec: Any) -> str | None:
    """A store's caBundle lives in the cluster; locally, the usual AWS variable names the PEM file."""
    return os.environ.get("AWS_CA_BUNDLE") if spec.ca_bundle else None


def results_sink(output: Path | None, spec: InferenceJobSpec, namespace: str, job: str, run_id: str) -> Sink:
    from wallaroo_operator.cli.run_job_results import FolderSink, ObjectStoreSink

    if output is not None:
        return FolderSink(output)
    target = spec.results.object_store
    if target is None:
        raise UsageError("where should the results go? give --output DIR (the job has no results.objectStore)")
    from wallaroo_operator.objectstore import ObjectStore, ResultSink, RunIdentity, settings_from_spec

    store = ObjectStore(settings_from_spec(target, None, _store_ca(target)))
    return ObjectStoreSink(
        ResultSink(
            store,
            RunIdentity(namespace, job, run_id, "local"),
            prefix=target.prefix,
            format=target.format,
            rows_per_part=target.rows_per_part,
        )
    )


@dataclass(frozen=True)
class Resolved:
    manifest: RunManifest
    tokens: Any
    verify: Any


def resolve(job: Any) -> Resolved:
    """The tutorial's lookups: a token, the workspace id, the pipeline's external URL (only on a
    trusted origin: the API's own or the connection's inferenceHosts)."""
    from wallaroo_operator.controller.connection import ResolvedConnection, endpoint_urls
    from wallaroo_operator.wallaroo import Credentials, Verify

    connection: WallarooConnectionSpec = job.connection
    api_url, token_url = endpoint_urls(connection)
    credentials = Credentials(
        client_id=connection.client_id,
        client_secret=job.credentials["client_secret"],
        grant=connection.grant,
        username=job.credentials.get("username"),
        password=job.credentials.get("password"),
    )
    verify: Verify = False if connection.insecure_skip_tls_verify else (job.ca_file or True)
    resolved = ResolvedConnection(
        api_url,
        token_url,
        credentials,
        verify,
        connection.request_timeout_seconds,
        tuple(connection.inference_hosts or ()),
    )
    spec = InferenceJobSpec.model_validate(job.spec)
    workspace_id = resolved.api().workspace_id(spec.workspace)
    url = resolved.url_resolver(workspace_id, spec.pipeline)()
    # A local run writes a file, not ConfigMaps: allow the most ConfigMap-sized chunks the spec allows.
    local_spec = dict(job.spec)
    local_spec["results"] = {**(local_spec.get("results") or {}), "maxConfigMaps": LOCAL_MAX_CHUNKS}
    manifest = RunManifest(
        namespace=job.namespace,
        job_name=job.name,
        job_uid="local",
        run_id=job.run_id,
        spec=local_spec,
        input_parts=[],
        workspace_id=workspace_id,
        inference_url=url,
        api_url=api_url,
        token_url=token_url,
        client_id=connection.client_id,
        grant=connection.grant,
        insecure_skip_tls_verify=connection.insecure_skip_tls_verify,
        api_timeout_seconds=connection.request_timeout_seconds,
        progress_config_map="",
        shards=spec.execution.shards,
    )
    return Resolved(manifest, resolved.tokens, verify)
