"""Synchronous data parallelism over torch.distributed: one worker process per rank, each with
the same pipeline built from the same seed, a disjoint shard of every global batch, and its
gradients all-reduced before one identical optimizer step everywhere.

The gradients are *summed* across workers, not averaged: spaCy's losses (and archcli's) are sums
over the batch's tokens or docs, so the sum of the shards' gradients is the gradient of the global
batch, and N workers take exactly the step one worker would on the same batch. Rank 0 evaluates,
logs and saves; the others receive its score (so patience stops every rank at the same step).

The process group comes from the environment `torchrun` sets (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT); `archcli train --n-workers N` (launcher.py) sets the same variables
for N local processes. Every collective has a timeout, so a worker that dies or hangs makes
the others stop with a message naming the problem instead of waiting for ever.
"""
import hashlib
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy

from ..errors import ArchcliError
from ..tokens.example import Example

ENV_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
DEFAULT_TIMEOUT_S = 300.0
TIMEOUT_ENV = "ARCHCLI_WORKER_TIMEOUT"


class WorkerLost(ArchcliError):
    """A collective failed or timed out: another worker died, hung or could not be reached."""


@dataclass(frozen=True)
class Workers:
    """This process's place in the group."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    timeout_s: float

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def workers_from_env(environ: Optional[Dict[str, str]] = None) -> Optional["Workers"]:
    """The group the environment describes (torchrun's variables), None when it describes none;
    a half-set environment is an error naming what is missing or wrong."""
    env = os.environ if environ is None else environ
    present = [var for var in ENV_VARS if env.get(var)]
    if not present:
        return None
    missing = [var for var in ENV_VARS if not env.get(var)]
    if missing:
        raise ArchcliError(f"the distributed environment is half set: {', '.join(present)} set but "
                           f"{', '.join(missing)} missing (torchrun sets all of them; or use --n-workers N)")
    values = {}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"):
        raw = env.get(var, env["RANK"] if var == "LOCAL_RANK" else "")
        try:
            values[var] = int(raw)
        except ValueError:
            raise ArchcliError(f"{var}={raw!r} is not an integer") from None
    if values["WORLD_SIZE"] < 1 or not 0 <= values["RANK"] < values["WORLD_SIZE"]:
        raise ArchcliError(f"RANK={values['RANK']} does not fit WORLD_SIZE={values['WORLD_SIZE']}")
    try:
        timeout = float(env.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    except ValueError:
        raise ArchcliError(f"{TIMEOUT_ENV}={env.get(TIMEOUT_ENV)!r} is not a number of seconds") from None
    return Workers(rank=values["RANK"], world_size=values["WORLD_SIZE"], local_rank=values["LOCAL_RANK"],
                   backend="gloo", timeout_s=timeout)


def start(workers: Workers, gpu_id: int = -1) -> Workers:
    """Join the process group (NCCL for a worker on GPU `gpu_id`, gloo on the CPU); returns the
    settings used."""
    import torch
    import torch.distributed as dist

    backend = "nccl" if gpu_id >= 0 else "gloo"
    if gpu_id >= 0:
        torch.cuda.set_device(gpu_id)  # NCCL's collectives run on the current device
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend=backend, rank=workers.rank, world_size=workers.world_size,
                                    timeout=timedelta(seconds=workers.timeout_s))
        except (RuntimeError, ValueError) as err:
            raise WorkerLost(f"rank {workers.rank}: could not join the {workers.world_size} workers at "
                             f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}: {err}") from None
    return Workers(workers.rank, workers.world_size, workers.local_rank, backend, workers.timeout_s)


def stop() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def _collective(workers: Workers, what: str, call, *args):
    """Run a collective; a failure (a peer died, the timeout passed) is one WorkerLost message."""
    try:
        return call(*args)
    except RuntimeError as err:  # gloo/NCCL raise RuntimeError subclasses (DistBackendError, DistNetworkError)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WorkerLost(f"rank {workers.rank}: lost the other workers during {what} (one died, hung "
                         f"longer than the {workers.timeout_s:.0f}s timeout, or exited): {first}") from None


# --- batches ------------------------------------------------------------------------------------
def shard(batch: Sequence[Example], rank: int, world_size: int) -> List[Example]:
    """This rank's disjoint part of a global batch, balanced by words: examples go, longest first,
    to the rank with the fewest words so far (ties to the lowest rank). Every rank computes the
    same assignment, so the shards cover the batch exactly once; each keeps the batch's order."""
    if world_size == 1:
        return list(batch)
    lengths = numpy.fromiter((len(eg) for eg in batch), dtype="int64", count=len(batch))
    loads = numpy.zeros(world_size, dtype="int64")
    owner = numpy.empty(len(batch), dtype="int64")
    for i in numpy.argsort(-lengths, kind="stable").tolist():
        target = int(numpy.argmin(loads))
        owner[i] = target
        loads[target] += max(int(lengths[i]), 1)
    return [batch[i] for i in numpy.flatnonzero(owner == rank).tolist()]


# --- gradients --------------------------------------------------------------------------------
def _grad_slots(nlp, names: Iterable[str]) -> List[Tuple[Any, str, Any]]:
    """(owner, name, kind) for every parameter the optimizer may step, in an order every rank
    shares: thinc params of each named component's model walk, then its torch shims' params."""
    slots = []
    for name in names:
        model = nlp.get_pipe(name).model
        for node in model.walk():
            for param in node.param_names:
                if node.has_param(param):
                    slots.append((node, param, "thinc"))
            for shim in node.shims:
                torch_model = getattr(shim, "_model", None)
                if torch_model is not None and hasattr(torch_model, "named_parameters"):
                    for _, tensor in torch_model.named_parameters():
                        if tensor.requires_grad:
                            slots.append((tensor, "", "torch"))
    return slots


def allreduce_step(workers: Workers, nlp, names: Sequence[str], losses: Dict[str, float]) -> Dict[str, float]:
    """Sum every gradient of the components `names` (and the step's losses) over the workers, in
    one collective; a parameter gets a gradient where any worker had one, as it would in one
    process. Returns the summed losses."""
    import torch
    import torch.distributed as dist
    from thinc.api import torch2xp, xp2torch

    slots = _grad_slots(nlp, names)
    grads, shapes, has_grad = [], [], []
    for owner, param, kind in slots:
        if kind == "thinc":
            shape = owner.get_param(param).shape
            has = owner.has_grad(param)
            grads.append(xp2torch(owner.ops.xp.ascontiguousarray(owner.get_grad(param))).reshape(-1).float()
                         if has else None)
        else:
            shape, has = tuple(owner.shape), owner.grad is not None
            grads.append(owner.grad.detach().reshape(-1).float() if has else None)
        shapes.append(shape)
        has_grad.append(has)
    device = next((g.device for g in grads if g is not None), torch.device("cpu"))
    sizes = [int(numpy.prod(shape)) for shape in shapes]
    loss_keys = sorted(losses)
    flat = torch.cat([g.to(device) if g is not None else torch.zeros(n, device=device) for g, n in zip(grads, sizes)]
                     + [torch.tensor([float(h) for h in has_grad] + [float(losses[k]) for k in loss_keys],
                                     device=device)])
    _collective(workers, "the gradient all-reduce", dist.all_reduce, flat)
    n_grads = sum(sizes)
    any_grad = flat[n_grads:n_grads + len(slots)].tolist()
    offset = 0
    for (owner, param, kind), shape, size, flag in zip(slots, shapes, sizes, any_grad):
        if flag > 0:  # some worker had a gradient here
            summed = flat[offset:offset + size].reshape(shape)
            if kind == "thinc":
                owner.set_grad(param, owner.ops.asarray(torch2xp(summed), dtype=owner.get_param(param).dtype))
            else:
                owner.grad = summed.to(owner.dtype).clone()
        offset += size
    return dict(zip(loss_keys, flat[n_grads + len(slots):].tolist()))


# --- agreeing on things -------------------------------------------------------------------------
def broadcast(workers: Workers, value: Any, what: str) -> Any:
    """Rank 0's `value` on every rank (any picklable object)."""
    import torch.distributed as dist

    box = [value if workers.is_main else None]
    _collective(workers, what, dist.broadcast_object_list, box, 0)
    return box[0]


def weights_digest(nlp) -> str:
    """A hash of every weight of the pipeline (thinc and torch), to check the workers agree."""
    digest = hashlib.sha256()
    for name, proc in nlp.components:
        model = getattr(proc, "model", None)
        if model is None or not hasattr(model, "walk"):
            continue
        for node in model.walk():
            for param in node.param_names:
                if node.has_param(param):
                    digest.update(numpy.ascontiguousarray(node.ops.to_numpy(node.get_param(param))).tobytes())
            for shim in node.shims:
                torch_model = getattr(shim, "_model", None)
                if torch_model is not None and hasattr(torch_model, "state_dict"):
                    for tensor in torch_model.state_dict().values():
                        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def check_in_sync(workers: Workers, nlp, when: str) -> List[float]:
    """Fail on every rank, naming the ranks, if their weights are not bit-identical; return each
    rank's peak memory so far (MiB), gathered in the same collective."""
    import resource

    import torch.distributed as dist

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gathered: List[Optional[Tuple[str, float]]] = [None] * workers.world_size
    _collective(workers, f"the weight check {when}", dist.all_gather_object, gathered, (weights_digest(nlp), peak_mib))
    digests = [entry[0] for entry in gathered]  # type: ignore[index]
    if len(set(digests)) != 1:
        odd = [rank for rank, d in enumerate(digests) if d != digests[0]]
        raise ArchcliError(f"the workers' weights differ {when} (rank(s) {', '.join(map(str, odd))} differ from "
                           "rank 0): this is a bug in archcli's distributed training, please report it")
    return [round(entry[1], 1) for entry in gathered]  # type: ignore[index]
