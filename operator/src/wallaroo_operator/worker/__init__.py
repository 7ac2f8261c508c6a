"""The worker: executes one shard of one run (`python -m wallaroo_operator worker`).

It runs in the Pods of a run's Job, or as a child process of the operator (--executor=local): the same
code either way. It streams the input, sends batches, writes results ConfigMaps as they fill, and reports
progress and its outcome into the run's progress ConfigMap; the operator turns that into status.
"""
