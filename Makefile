# Everything a newcomer needs: `make demo` runs the main job, `make test` runs every test.
# Both install what they need (a virtualenv in .venv, the control plane built from Go modules).

PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTEST_ARGS ?=
SIM_ARGS ?=
OPERATOR_ARGS ?=

.DEFAULT_GOAL := help
LOCKED  := requirements/build.txt requirements/test.txt
PIP_COMPILE := $(PY) -m piptools compile --quiet --generate-hashes --allow-unsafe --strip-extras \
               --no-emit-options --resolver=backtracking

IMAGE   ?= wallaroo-inference-operator:0.1.0

.PHONY: help install lock lint controlplane node-deps cluster-up cluster-down kubeconfig sim-up sim-down s3 s3-up s3-down crds chart helm \
        test run demo bench bench-quick image deploy clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# Installs exactly the locked versions (every file checked against its hash), then the project
# itself without resolving anything again.
$(STAMP): pyproject.toml setup.py $(LOCKED)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required (found %s)" % sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --require-hashes $(addprefix -r ,$(LOCKED))
	@$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

install: $(STAMP) ## create .venv and install the locked test dependencies and the project

# pip-compile resolves for the Python running it: the locks are for Python 3.11, as the image.
lock: ## re-resolve requirements/*.txt (with hashes) from pyproject.toml after changing a dependency
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet pip-tools==7.6.2
	CUSTOM_COMPILE_COMMAND="make lock" $(PIP_COMPILE) -o requirements/build.txt requirements/build.in
	CUSTOM_COMPILE_COMMAND="make lock" $(PIP_COMPILE) -o requirements/runtime.txt pyproject.toml
	CUSTOM_COMPILE_COMMAND="make lock" $(PIP_COMPILE) --extra simulator --extra cli --extra test \
	  -o requirements/test.txt pyproject.toml

# The gate `make test` runs first: every tool runs (so one run shows every problem), and any failure fails.
lint: $(STAMP) ## ruff (lint and format check) and mypy --strict on the operator package
	@status=0; \
	  $(PY) -m ruff check . || status=1; \
	  $(PY) -m ruff format --check . || status=1; \
	  $(PY) -m mypy || status=1; \
	  exit $$status

controlplane: $(STAMP) ## build the control plane (and, where a node can run, kubelet, kube-scheduler and its base images; cached)
	@$(PY) -m localcluster build

node-deps: ## as root: install containerd, runc, CNI plugins, buildah, debootstrap if missing (Debian)
	@hack/install-node-deps.sh

cluster-up: node-deps controlplane ## start the control plane and, where possible, a node (LOCALCLUSTER_NODE=0: none)
	@$(PY) -m localcluster up

cluster-down: $(STAMP) ## stop the local cluster by PID and restore the host (mounts, bridge, sysctls, ...)
	@$(PY) -m localcluster down

kubeconfig: $(STAMP) ## print the local control plane's kubeconfig path
	@$(PY) -m localcluster kubeconfig

sim-up: $(STAMP) ## start the Wallaroo simulator in the background (options: SIM_ARGS="--tls ...")
	@$(PY) -m wallaroo_simulator up $(SIM_ARGS)

sim-down: $(STAMP) ## stop the Wallaroo simulator
	@$(PY) -m wallaroo_simulator down

s3: $(STAMP) ## build the S3 server for the tests (versitygw from hack/s3/, cached per version)
	@$(PY) -m localcluster.s3 build

s3-up: $(STAMP) ## start a real S3 server (versitygw, built and cached on first use) on loopback in the background
	@$(PY) -m localcluster.s3 up

s3-down: $(STAMP) ## stop the S3 server and remove its buckets
	@$(PY) -m localcluster.s3 down

crds: $(STAMP) ## regenerate crds/ (and the chart's copy, and docs/reference.md's field tables) from the pydantic models
	@$(PY) -m wallaroo_operator crds crds
	@$(PY) hack/chart/generate.py
	@$(PY) hack/docs/generate_reference.py

chart: $(STAMP) ## regenerate the chart's CRDs, RBAC and Deployment settings from the models and manifests/
	@$(PY) hack/chart/generate.py

helm: $(STAMP) ## print the path of a helm v3 binary (built from hack/helm/ and cached when none is on PATH)
	@$(PY) hack/chart/helm_binary.py

run: $(STAMP) ## run the operator in the foreground against the current KUBECONFIG (OPERATOR_ARGS="-n ns")
	@$(PY) -m wallaroo_operator run $(OPERATOR_ARGS)

demo: node-deps controlplane ## the main job: the operator's image deployed in the local node runs a sample InferenceJob
	@$(PY) hack/demo.py

deploy: controlplane ## install crds/ and hack/overlays/local into KUBECONFIG's cluster (default: the local one)
	@$(PY) hack/deploy.py

# Benchmarks print their progress on stderr and end with one JSON line each (docs/benchmarks.md).
# BENCH_SCALE="N M": N scheduled and M one-shot jobs for the scale benchmark.
BENCH_SCALE ?= 1000 200

bench: controlplane ## every benchmark: throughput, scale, memory, sweep, simulator capacity (docs/benchmarks.md)
	@$(PY) benchmarks/simulator_capacity.py
	@$(PY) benchmarks/throughput.py --operator
	@$(PY) benchmarks/scale.py $(BENCH_SCALE)
	@$(PY) benchmarks/worker_memory.py
	@$(PY) benchmarks/sweep.py

bench-quick: controlplane ## a small version of the benchmarks (under 3 minutes); the last line is one JSON object
	@$(PY) benchmarks/bench_quick.py

# With a Docker engine: docker build. Without: buildah on a debootstrapped base, loaded into the
# local node when it runs. Either way the image's SBOM (CycloneDX: its Debian and Python packages, read
# from its root filesystem) goes to build/sbom.cdx.json. The last line printed is the image reference.
image: $(STAMP) ## build the operator image (Docker, else buildah), write build/sbom.cdx.json, load it into a running local node
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
	  docker build -q -t $(IMAGE) . >/dev/null \
	  && container=$$(docker create $(IMAGE)) \
	  && { docker export $$container | $(PY) -m localcluster.sbom --tar - --image $(IMAGE) -o build/sbom.cdx.json >&2; \
	       status=$$?; docker rm $$container >/dev/null; test $$status -eq 0; } \
	  && echo $(IMAGE); \
	else hack/install-node-deps.sh && $(PY) -m localcluster image; fi

# lint first: a lint or type error fails the run before anything is built or started.
test: lint node-deps controlplane helm s3 ## make lint, then every test (starts its own control plane, node, simulator and S3 server)
	@$(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$status

clean: cluster-down sim-down ## stop everything and remove build state (keeps the binary cache)
	rm -rf build *.egg-info
