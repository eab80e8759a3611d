"""Process-group setup for the three launch modes.

* ``python -m trainer`` / ``winnow-train``: one process, no process group (unless ``--deepspeed``,
  which always needs one: a world of 1 is created on 127.0.0.1).
* ``torchrun --nproc_per_node N -m trainer``: RANK/WORLD_SIZE/LOCAL_RANK from the environment; DDP
  over NCCL on GPU, gloo on CPU.
* ``deepspeed --module trainer --deepspeed cfg.json``: the launcher sets the same variables and
  passes ``--local_rank``.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistEnv:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.backend is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(device: str = "auto", local_rank: int = -1, deepspeed: bool = False) -> DistEnv:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", local_rank if local_rank >= 0 else 0))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device, local) if device == "cuda" else torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    env = DistEnv(rank, world, local, dev)
    if world > 1 or deepspeed:
        env.backend = "nccl" if dev.type == "cuda" else "gloo"
        if not dist.is_initialized():
            os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
            os.environ.setdefault("MASTER_PORT", str(_free_port()))
            os.environ.setdefault("RANK", str(rank))
            os.environ.setdefault("WORLD_SIZE", str(world))
            os.environ.setdefault("LOCAL_RANK", str(local))
            if deepspeed:
                import deepspeed as ds

                if dev.type == "cpu":
                    # DeepSpeed's CPU backend JIT-compiles a shared-memory all-reduce op (a minute
                    # of g++, used only by inference_all_reduce); training over gloo never needs it.
                    ds.ops.__compatible_ops__["deepspeed_shm_comm"] = False
                ds.init_distributed(dist_backend=env.backend, auto_mpi_discovery=False)
            else:
                dist.init_process_group(env.backend, device_id=dev if dev.type == "cuda" else None)
    return env


def all_reduce_mean(x: torch.Tensor, env: DistEnv) -> torch.Tensor:
    if env.distributed and env.world > 1:
        x = x.clone()
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
        x /= env.world
    return x


def all_reduce_sum(x: torch.Tensor, env: DistEnv) -> torch.Tensor:
    if env.distributed and env.world > 1:
        x = x.clone()
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def cleanup(env: DistEnv) -> None:
    if env.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
