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
.PHONY: help install controlplane cluster-up cluster-down kubeconfig sim-up sim-down s3 s3-up s3-down crds test \
        run demo bench image clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required (found %s)" % sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

install: $(STAMP) ## create .venv and install the project with its test dependencies

controlplane: $(STAMP) ## build etcd, kube-apiserver, kube-controller-manager and kubectl (cached per version)
	@$(PY) -m localcluster build

cluster-up: controlplane ## start the local control plane in the background
	@$(PY) -m localcluster up

cluster-down: $(STAMP) ## stop the local control plane and remove its state
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

crds: $(STAMP) ## regenerate crds/ from the pydantic models
	@$(PY) -m wallaroo_operator crds crds

run: $(STAMP) ## run the operator in the foreground against the current KUBECONFIG (OPERATOR_ARGS="-n ns")
	@$(PY) -m wallaroo_operator run $(OPERATOR_ARGS)

demo: controlplane ## the main job: control plane + simulator + operator + a sample InferenceJob, then clean up
	@$(PY) hack/demo.py

bench: $(STAMP) ## the simulator capacity benchmark (results in docs/simulator.md)
	@$(PY) benchmarks/simulator_capacity.py

image: ## build the operator image (needs a Docker engine)
	docker build -t wallaroo-inference-operator:0.1.0 .

test: controlplane s3 ## run every test (starts its own control plane and simulator)
	@$(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$status

clean: cluster-down sim-down ## stop everything and remove build state (keeps the binary cache)
	rm -rf build *.egg-info
