"""The Ray executor: each (model, quantization) job of a plan is one Ray task on a cluster's node.

- Connects with `ray.init(address=...)` (None: an already-initialised Ray, else the cluster in RAY_ADDRESS,
  else a new local one); a probe task per node reports its device (GPU 0's name and memory, or the CPU and RAM).
- A task asks `num_gpus=1` on a GPU cluster, else `cpus_per_job` CPUs (default: all of a node's CPUs, so a CPU
  worker gets the threads a local run gets and the same device name, hence the same cell ids). The task runs
  the job exactly as the local executor does: a fresh `python -m explorer.runner` process on the node
  (explorer/launcher/process.py), writing atomic, content-keyed records into the results folder, which must be
  a path every node sees (a shared filesystem). So resume works across nodes and executors.
- Placement (explorer/launcher/placement.py): a job goes only to nodes whose device memory holds it (pinned
  with a node-affinity strategy when only some do); with none, its cells are recorded failed with the numbers.
- The driver follows the records as they land (progress, ETA) while it waits on the tasks. A task whose worker
  or node died is submitted once more with the cells it did not write (retried once); if that dies too, those
  cells are recorded failed with the reason. Stop cancels the tasks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from explorer.launcher.executors import Account, JobEnd
from explorer.launcher.placement import Node, fitting_nodes, need_bytes

POLL_S = 0.3
PULL_S = 2.0  # how often the driver lists an object store for records other nodes uploaded


def _probe(threads: int) -> dict[str, Any]:
    """On a node: its id and the device its jobs would use (name, with the threads a CPU job gets; memory)."""
    import ray

    from explorer.runner.measure import device_memory

    kind = "cuda" if ray.get_gpu_ids() else "cpu"
    name, total = device_memory(kind, threads)
    return {"node_id": ray.get_runtime_context().get_node_id(), "kind": kind, "name": name, "bytes": total}


def _run_on_node(job: Any, env: dict[str, str]) -> dict[str, Any]:
    """On a node: the job in a fresh worker process, as the local executor runs it; how it ended."""
    import ray

    from explorer.launcher.process import exit_reason, launch, log_path

    pusher = None
    if job.store_uri:  # an object store: write this node's staging copy, upload each record as it lands
        from explorer.records.remote import Pusher, Store

        store = Store(job.store_uri)
        job = replace(job, out_dir=str(store.staging))
        pusher = Pusher(store, [c.cell_id for c in job.cells])
    code = launch(job, env=env, on_poll=pusher)
    node = ray.util.get_node_ip_address()
    return {"code": code, "reason": exit_reason(code, log_path(job)) + f"; node {node}", "node": node}


class RayExecutor:
    """Jobs as Ray tasks (module text)."""

    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_job: int | None = None) -> None:
        if cpus_per_job is not None and cpus_per_job < 1:
            raise ValueError(f"--ray-cpus-per-job must be >= 1, got {cpus_per_job}")
        self.address, self.cpus_per_job = address, cpus_per_job
        self._nodes: list[Node] | None = None
        self._next = 0

    def _connect(self) -> Any:
        try:
            import ray
        except ImportError:
            raise ValueError("the Ray executor needs Ray: pip install -e '.[ray]'") from None
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
            except ConnectionError as exc:
                raise ValueError(f"cannot reach the Ray cluster at {self.address}: {exc}") from None
        return ray

    def cluster_nodes(self) -> list[Node]:
        """Every alive node, probed once (a GPU node reports its GPU 0, a CPU node its RAM)."""
        if self._nodes is not None:
            return self._nodes
        ray = self._connect()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        alive = [n for n in ray.nodes() if n.get("Alive")]
        probes = []
        for n in alive:
            gpus = int(n["Resources"].get("GPU", 0))
            strategy = NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
            task = ray.remote(_probe).options(num_cpus=0, num_gpus=min(gpus, 1), scheduling_strategy=strategy)
            probes.append(task.remote(self.cpus_per_job or int(n["Resources"].get("CPU", 1))))
        self._nodes = []
        for n, p in zip(alive, ray.get(probes), strict=True):
            res = n["Resources"]
            slots = int(res.get("GPU", 0)) if p["kind"] == "cuda" else int(res.get("CPU", 1))
            self._nodes.append(Node(n["NodeID"], p["kind"], int(p["bytes"]), p["name"], n["NodeManagerAddress"], slots))
        return self._nodes

    def target(self, spec_device: str) -> tuple[str, str]:
        """(device, device name) of the cluster's jobs: cuda:0 on its GPU nodes (all of one kind), else cpu."""
        nodes = self.cluster_nodes()
        gpu = sorted({n.device_name for n in nodes if n.device_kind == "cuda"})
        if spec_device.startswith("cuda") and not gpu:
            raise ValueError(f"device {spec_device!r} asked for, but the Ray cluster has no GPU node: use cpu or auto")
        kind = "cuda" if gpu and spec_device != "cpu" else "cpu"
        names = gpu if kind == "cuda" else sorted({n.device_name for n in nodes if n.device_kind == "cpu"})
        if len(names) != 1:
            raise ValueError(f"the Ray cluster's {kind} nodes are of {len(names)} kinds ({'; '.join(names)}): cells "
                             "are keyed by device, run one sweep per kind of node")  # fmt: skip
        return ("cuda:0" if kind == "cuda" else "cpu"), names[0]

    def _cpus(self, node: Node) -> int:
        return self.cpus_per_job or node.slots

    def nodes(self, device: str) -> list[Node]:
        return [n for n in self.cluster_nodes() if n.device_kind == device.split(":")[0]]

    def task_options(self, job: Any, device: str) -> tuple[dict[str, Any], str | None, dict[str, str]]:
        """(Ray task options, the node id it is pinned to or None, the worker's extra environment): one GPU,
        or a node's CPUs; pinned to a node that holds it when only some do (in turn)."""
        nodes = self.nodes(device)
        fit = fitting_nodes(need_bytes(job.model, job.quant), nodes)
        if device.startswith("cuda"):
            opts: dict[str, Any] = {"num_gpus": 1, "num_cpus": 1}
            env: dict[str, str] = {}
        else:
            opts = {"num_cpus": min(self._cpus(n) for n in (fit or nodes))}
            env = {"OMP_NUM_THREADS": str(opts["num_cpus"])}
        pin = None
        if fit and len(fit) < len(nodes):
            pin = fit[self._next % len(fit)].node_id
            self._next += 1
        return {**opts, "max_retries": 0}, pin, env

    def _submit(self, job: Any, device: str) -> Any:
        ray = self._connect()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        opts, pin, env = self.task_options(job, device)
        if pin is not None:
            opts["scheduling_strategy"] = NodeAffinitySchedulingStrategy(pin, soft=False)
        return ray.remote(_run_on_node).options(**opts).remote(job, env)

    def run(self, jobs: list[Any], account: Account, stop: threading.Event | None) -> Iterator[JobEnd]:
        """Submit every job, follow records while waiting; retry a dead task once with what it did not write."""
        from explorer.launcher.sweep import RecordFollower

        ray = self._connect()
        pending: dict[Any, tuple[Any, int, RecordFollower]] = {}
        for job in jobs:
            pending[self._submit(job, job.device)] = (job, 0, RecordFollower(job, account))
        pull = _Puller(jobs[0].store_uri if jobs else "")
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            pull()  # records uploaded by other nodes, into the staging copy the followers read
            for _, _, follow in pending.values():
                follow()
            if stop is not None and stop.is_set():
                yield from self._cancel(ray, pending)
                return
            for ref in ready:
                job, attempt, follow = pending.pop(ref)
                reason = self._outcome(ray, ref)
                follow()
                end = JobEnd(job, follow.seen, reason)
                if end.missing() and attempt == 0:
                    retry = replace(job, cells=end.missing())
                    pending[self._submit(retry, retry.device)] = (retry, 1, RecordFollower(retry, account))
                    continue
                yield JobEnd(job, follow.seen, reason + ("; retried once" if attempt else ""))

    @staticmethod
    def _outcome(ray: Any, ref: Any) -> str:
        from explorer.runner.worker import one_line

        try:
            return ray.get(ref)["reason"]
        except ray.exceptions.RayError as exc:
            return f"Ray task failed ({type(exc).__name__}: the node or its worker died): {one_line(exc, 200)}"

    @staticmethod
    def _cancel(ray: Any, pending: dict) -> Iterator[JobEnd]:
        for ref in pending:
            ray.cancel(ref, force=True)
        for job, _, follow in pending.values():
            follow()
            yield JobEnd(job, follow.seen, "")


class _Puller:
    """Every PULL_S, the object store's new records into the driver's staging copy (nothing for a path)."""

    def __init__(self, uri: str) -> None:
        from explorer.records.remote import Store

        self.store, self.last = (Store(uri) if uri else None), 0.0

    def __call__(self) -> None:
        import time

        if self.store is not None and time.monotonic() - self.last > PULL_S:
            self.store.pull(only_missing=True)
            self.last = time.monotonic()
