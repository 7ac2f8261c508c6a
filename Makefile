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
IMAGE   ?= wallaroo-inference-operator:0.1.0

.PHONY: help install controlplane node-deps cluster-up cluster-down kubeconfig sim-up sim-down crds test \
        run demo bench image deploy clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required (found %s)" % sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

install: $(STAMP) ## create .venv and install the project with its test dependencies

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

crds: $(STAMP) ## regenerate crds/ from the pydantic models
	@$(PY) -m wallaroo_operator crds crds

run: $(STAMP) ## run the operator in the foreground against the current KUBECONFIG (OPERATOR_ARGS="-n ns")
	@$(PY) -m wallaroo_operator run $(OPERATOR_ARGS)

demo: node-deps controlplane ## the main job: the operator's image deployed in the local node runs a sample InferenceJob
	@$(PY) hack/demo.py

deploy: controlplane ## install crds/ and hack/overlays/local into KUBECONFIG's cluster (default: the local one)
	@$(PY) hack/deploy.py

bench: $(STAMP) ## the simulator capacity benchmark (results in docs/simulator.md)
	@$(PY) benchmarks/simulator_capacity.py

# With a Docker engine: docker build. Without: buildah on a debootstrapped base, loaded into the
# local node when it runs. The last line printed is the image reference.
image: $(STAMP) ## build the operator image (Docker, else buildah) and load it into a running local node
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
	  docker build -q -t $(IMAGE) . >/dev/null && echo $(IMAGE); \
	else hack/install-node-deps.sh && $(PY) -m localcluster image; fi

test: node-deps controlplane ## run every test (starts its own control plane, node and simulator)
	@$(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$status

clean: cluster-down sim-down ## stop everything and remove build state (keeps the binary cache)
	rm -rf build *.egg-info
