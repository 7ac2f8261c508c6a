"""Names that the CRDs, the handlers and the manifests must agree on."""

DOMAIN = "inferops.dev"
GROUP = f"wallaroo.{DOMAIN}"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "wallaroo"

JOB_KIND, JOB_PLURAL = "InferenceJob", "inferencejobs"
CONNECTION_KIND, CONNECTION_PLURAL = "WallarooConnection", "wallarooconnections"

# Kopf's own bookkeeping lives under our domain, not kopf.zalando.org.
FINALIZER = f"{GROUP}/finalizer"
ANNOTATION_PREFIX = GROUP

# Set this annotation to any new value (a timestamp, say) to start one extra run: works from
# kubectl and from Git, and runs once per distinct value.
RUN_NOW_ANNOTATION = f"{GROUP}/run-now"

# Labels on the results ConfigMaps, so `kubectl get cm -l ...` finds a job's or a run's results.
JOB_LABEL = f"{GROUP}/job"
RUN_LABEL = f"{GROUP}/run"
PART_LABEL = f"{GROUP}/part"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "wallaroo-inference-operator"

# On a Secret: the WallarooConnections (comma-separated names, or "*") allowed to use it. Without it a
# connection may not read the Secret's values: creating a connection must not be a way to send any
# Secret of the namespace to a URL of one's choosing.
ALLOWED_CONNECTIONS_ANNOTATION = f"{GROUP}/allowed-connections"
# The same opt-in for a Secret of object-store keys: the InferenceJobs allowed to use it.
ALLOWED_JOBS_ANNOTATION = f"{GROUP}/allowed-inference-jobs"
# The fixed keys of a credentials Secret.
CLIENT_SECRET_KEY, USERNAME_KEY, PASSWORD_KEY = "clientSecret", "username", "password"
