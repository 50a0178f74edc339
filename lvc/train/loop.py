"""One training loop for every learned codec: CPU or CUDA, fp32 or bf16, one process or
several (``torchrun``), a wall-time budget, resumable weights-only checkpoints, a JSONL log.

A codec describes *what* to train as a ``TrainTask`` (its network, batches, loss and
metadata); ``run`` does the rest, the same way for all of them:

- device and precision: ``--device cpu|cuda[:N]``; ``--precision bf16`` runs the task's
  ``forward`` under ``torch.autocast`` and its ``loss`` (rate and distortion terms) in
  float32; TF32 matmuls and convolutions on CUDA;
- schedule: the first optimiser's learning rate follows the task's schedule (cosine by
  default) over the steps, or over ``--minutes`` of wall time when a budget is given,
  so a time-boxed GPU run always completes its decay;
- checkpoints: ``OUT/checkpoint.safetensors`` every ``ckpt_minutes`` (and every
  ``ckpt_every`` steps), written atomically by rank 0, model tensors in float16 and no
  optimiser state unless ``save_optimizer`` (a continuation is then tens of MB, not
  hundreds); rerunning the same command resumes;
- data parallel: under ``torchrun`` (``WORLD_SIZE`` > 1) every rank builds the task,
  rank 0's weights are broadcast, rank ``r`` trains on batch ``step * world + r`` (so
  one process sees exactly today's stream), and gradients are averaged with one
  all-reduce per step (gloo on CPU, nccl on GPU). The all-reduce is explicit rather than
  ``DistributedDataParallel``'s reducer because codec steps call sub-networks
  (``encode``/``decode``), freeze parts mid-run and take auxiliary optimiser steps,
  which the reducer handles only with one ``forward`` per step. Only rank 0 writes; at
  the end the ranks compare weight digests and the log records that they agree.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadInputError
from .checkpoint import JsonlLog, Optimizers, load_checkpoint, save_checkpoint

SCHEDULES = ("cosine", "constant", "step")


@dataclass
class LoopOptions:
    """How to train (the task says what): the flags ``add_arguments`` defines."""
    steps: int
    lr: float
    minutes: float | None = None
    device: str = "cpu"
    precision: str = "fp32"
    threads: int | None = None
    seed: int = 0
    ckpt_minutes: float = 5.0
    ckpt_every: int | None = None
    log_every: int = 20
    save_optimizer: bool = False
    schedule: str | None = None
    warmup: int | None = None


@dataclass
class StepContext:
    """What a task's hooks may read about the current step."""
    step: int
    steps: int
    progress: float           # 0..1 through the run (steps, or wall time with a budget)
    timed: bool               # a wall-time budget drives the schedule
    state: dict = field(default_factory=dict)   # per-step values a task passes itself
    sync: object = None       # sync(params): average gradients over ranks (no-op alone)


class TrainTask:
    """What a codec trains. Override ``build``, ``batch``, ``forward``, ``loss``, ``meta``;
    the rest have defaults."""

    codec = "?"
    schedule = "cosine"
    warmup = 100
    lr_floor = 1e-5
    grad_clip: float | None = None     # norm clip of the first optimiser's parameters

    def build(self):
        raise NotImplementedError

    def optimizers(self, model, lr: float) -> list:
        """The optimisers; the first one's learning rate follows the schedule."""
        import torch

        return [torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)]

    def resumed(self, model, info: dict) -> None:
        """Check a checkpoint's metadata belongs to this task (raise BadInputError)."""

    def start(self, model, step: int, device) -> None:
        """Called once before the first step (``step`` > 0 when resuming)."""

    def batch(self, index: int, device):
        """Batch number ``index`` (a pure function of it) as tensors on ``device``."""
        raise NotImplementedError

    def forward(self, model, batch, ctx: StepContext) -> dict:
        """The network part of a step (under autocast with ``--precision bf16``)."""
        raise NotImplementedError

    def loss(self, out: dict, batch, ctx: StepContext) -> tuple:
        """``(loss, logs)`` from ``forward``'s outputs, in float32. Log values may be
        tensors: they are read (a device sync) only on the steps that log."""
        raise NotImplementedError

    def after_step(self, model, ctx: StepContext) -> dict:
        """Extra work after the optimiser step (auxiliary losses); returns log fields."""
        return {}

    def on_checkpoint(self, model, step: int) -> dict:
        """Extra metadata and log fields at each checkpoint (held-out scores)."""
        return {}

    def meta(self) -> dict:
        """Metadata stored in every checkpoint (config, data, hyper-parameters)."""
        return {}

    def describe(self, step: int, logs: dict) -> str:
        return f"step {step} " + " ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                          for k, v in logs.items())


def learning_rate(kind: str, peak: float, step: int, steps: int, fraction: float | None,
                  warmup: int = 100, floor: float = 1e-5, start: int = 0) -> float:
    """Learning rate at ``step``. ``fraction`` is the elapsed share of a wall-time budget
    (None: the schedule runs over ``steps``). cosine: linear warm-up over ``warmup``
    steps from ``start`` (a fresh optimiser warms up again), then a cosine from ``peak``
    to ``floor``; constant; step: a tenth after 80%."""
    if kind == "constant":
        return peak
    t = fraction if fraction is not None else step / max(1, steps)
    if kind == "step":
        return peak if t < 0.8 else peak / 10
    if step - start < warmup:
        return peak * (step - start + 1) / warmup
    if fraction is None:  # over the steps left when a fresh optimiser restarted the cycle
        t = (step - start - warmup) / max(1, steps - start - warmup)
    t = min(1.0, max(0.0, t))
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * t))


class _Ranks:
    """This process's place under torchrun (one process when not launched by it)."""

    def __init__(self, device: str):
        import torch

        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = torch.device(device)
        if self.device.type == "cuda":
            if not torch.cuda.is_available():
                raise BadInputError("--device cuda: no CUDA device is available here")
            if self.device.index is None:
                self.device = torch.device("cuda", local if self.world > 1 else 0)
            torch.cuda.set_device(self.device)
        if self.world > 1 and not torch.distributed.is_initialized():
            torch.distributed.init_process_group(
                "nccl" if self.device.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def broadcast_model(self, model) -> None:
        import torch

        if self.world > 1:
            for t in list(model.parameters()) + list(model.buffers()):
                torch.distributed.broadcast(t.data, 0)

    def average(self, params) -> None:
        """Average the gradients of ``params`` over ranks (one flat all-reduce)."""
        import torch

        if self.world == 1:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        torch.distributed.all_reduce(flat)
        flat /= self.world
        offset = 0
        for g in grads:
            g.copy_(flat[offset: offset + g.numel()].view_as(g))
            offset += g.numel()

    def shared(self, value: float) -> float:
        """Rank 0's ``value`` on every rank (so time-based decisions agree)."""
        import torch

        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64,
                         device=self.device if self.device.type == "cuda" else "cpu")
        torch.distributed.broadcast(t, 0)
        return float(t.item())

    def replicas_identical(self, model) -> bool:
        import torch

        if self.world == 1:
            return True
        h = hashlib.sha256()
        for t in model.state_dict().values():
            h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
        digests = [None] * self.world
        torch.distributed.all_gather_object(digests, h.hexdigest())
        return len(set(digests)) == 1

    def close(self) -> None:
        import torch

        if self.world > 1 and torch.distributed.is_initialized():
            torch.distributed.barrier()  # rank 0 may still be writing the checkpoint
            torch.distributed.destroy_process_group()


def hardware(device, world: int) -> str:
    import torch

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    return f"{world} x {name}" if world > 1 else name


def run(task: TrainTask, out, opts: LoopOptions, log=print) -> Path:
    """Train (or resume) ``task`` in the run folder ``out``; returns the checkpoint path."""
    import torch

    if opts.precision not in ("fp32", "bf16"):
        raise BadInputError(f"--precision is fp32 or bf16, not {opts.precision!r}")
    schedule = opts.schedule or task.schedule
    if schedule not in SCHEDULES:
        raise BadInputError(f"--schedule is one of {', '.join(SCHEDULES)}, not {schedule!r}")
    if opts.steps < 1:
        raise BadInputError("--steps must be positive")
    if opts.threads:
        torch.set_num_threads(opts.threads)
        os.environ["LVC_THREADS"] = str(opts.threads)  # codecs used in the run keep it
    ranks = _Ranks(opts.device)
    device = ranks.device
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    out = Path(out)
    ckpt = out / "checkpoint.safetensors"
    torch.manual_seed(opts.seed)
    model = task.build().to(device)
    opts_list = task.optimizers(model, opts.lr)
    main_params = [p for g in opts_list[0].param_groups for p in g["params"]]
    optimizer = Optimizers(opts_list)
    start, wall, warm_from = 0, 0.0, 0
    if ckpt.exists():
        info = load_checkpoint(ckpt, model, optimizer)
        task.resumed(model, info)
        start, wall = info["step"], info.get("wall_seconds", 0.0)
        warm_from = start if not info.get("optimizer_restored") else 0
        if ranks.main:
            kept = "" if info.get("optimizer_restored") else ", fresh optimiser state"
            log(f"resumed at step {start} ({wall / 60:.1f} min trained{kept})")
    task.start(model, start, device)
    ranks.broadcast_model(model)
    if ranks.main:
        out.mkdir(parents=True, exist_ok=True)  # only once the inputs are known good
    jsonl = JsonlLog(out / "log.jsonl") if ranks.main else None
    amp = dict(device_type=device.type, dtype=torch.bfloat16,
               enabled=opts.precision == "bf16")
    t0 = last_ckpt = time.time()
    budget = opts.minutes * 60 if opts.minutes else None
    meta = {"codec": task.codec, **task.meta(), "steps_target": opts.steps, "lr": opts.lr,
            "schedule": schedule, "seed": opts.seed, "device": str(device),
            "precision": opts.precision, "world_size": ranks.world,
            "hardware": hardware(device, ranks.world)}

    def save(step: int, extra: dict) -> None:
        if ranks.main:
            save_checkpoint(ckpt, model, optimizer if opts.save_optimizer else None, step,
                            {**meta, **extra, "wall_seconds": wall + time.time() - t0})

    step, logged_at, logged_t, scored = start, start, t0, (None, {})
    while step < opts.steps:
        elapsed = ranks.shared(time.time() - t0)
        fraction = min(1.0, elapsed / budget) if budget else None
        progress = max(step / opts.steps, fraction or 0.0)
        ctx = StepContext(step, opts.steps, progress, budget is not None, sync=ranks.average)
        for g in opts_list[0].param_groups:
            g["lr"] = learning_rate(schedule, opts.lr, step, opts.steps, fraction,
                                    task.warmup if opts.warmup is None else opts.warmup,
                                    task.lr_floor, warm_from)
        batch = task.batch(step * ranks.world + ranks.rank, device)
        with torch.autocast(**amp):
            outputs = task.forward(model, batch, ctx)
        with torch.autocast(device.type, enabled=False):
            outputs = {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v
                       for k, v in outputs.items()}
            loss, logs = task.loss(outputs, batch, ctx)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        ranks.average(main_params)
        if task.grad_clip:
            torch.nn.utils.clip_grad_norm_(main_params, task.grad_clip)
        opts_list[0].step()
        logs = {"loss": loss.detach(), **logs, **task.after_step(model, ctx)}
        step += 1
        stop = bool(ranks.shared(float(bool(budget) and time.time() - t0 > budget)))
        due_log = (step - 1) % opts.log_every == 0 or step == opts.steps or stop
        extra = {}
        due_ckpt = (opts.ckpt_every and step % opts.ckpt_every == 0) or \
            time.time() - last_ckpt > opts.ckpt_minutes * 60 or step == opts.steps or stop
        if due_ckpt:
            extra = task.on_checkpoint(model, step) if ranks.main else {}
            scored = (step, extra)
        if ranks.main and (due_log or extra):  # tensors become numbers only here (a sync)
            logs = {k: float(v) if torch.is_tensor(v) else v for k, v in logs.items()}
            now = time.time()
            rate = (step - logged_at) / max(now - logged_t, 1e-9)
            logged_at, logged_t = step, now
            jsonl.write(step=step - 1, **logs, **extra, lr=opts_list[0].param_groups[0]["lr"],
                        steps_per_s=round(rate, 3), minutes=(wall + now - t0) / 60)
            log(task.describe(step - 1, {**logs, **extra}) + f" ({rate:.2f} steps/s)")
        if due_ckpt and step < opts.steps and not stop:
            save(step, extra)
            last_ckpt = time.time()
        if stop:
            break
    same = ranks.replicas_identical(model)
    if ranks.main:
        final = scored[1] if scored[0] == step else task.on_checkpoint(model, step)
        save(step, {**final, "replicas_identical": same} if ranks.world > 1 else final)
        if ranks.world > 1:
            jsonl.write(step=step, replicas_identical=same)
    ranks.close()
    if not same:
        raise RuntimeError("data-parallel ranks ended with different weights")
    return ckpt


def add_arguments(ap: argparse.ArgumentParser, steps: int, lr: float,
                  ckpt_every: int | None = None) -> None:
    """The loop's flags, shared by every trainer's command line."""
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--minutes", type=float,
                    help="wall-time budget of this session: the schedule runs over it and the "
                         "run stops (with a checkpoint) when it is spent")
    ap.add_argument("--lr", type=float, default=lr, help="peak learning rate")
    ap.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule "
                    "(default: the codec's)")
    ap.add_argument("--warmup", type=int, help="learning-rate warm-up steps (default: the codec's)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                    help="bf16: autocast the networks (loss and rate terms stay float32)")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ckpt-minutes", type=float, default=5.0,
                    help="write the checkpoint this often")
    ap.add_argument("--ckpt-every", "--checkpoint-every", dest="ckpt_every", type=int,
                    default=ckpt_every,
                    help="also write it every this many steps")
    ap.add_argument("--log-every", type=int, default=20, help="log every this many steps")
    ap.add_argument("--save-optimizer", action="store_true",
                    help="keep the optimiser state in the checkpoint (default: weights only, "
                         "float16)")


def options(args) -> LoopOptions:
    return LoopOptions(steps=args.steps, lr=args.lr, minutes=args.minutes, device=args.device,
                       precision=args.precision, threads=args.threads, seed=args.seed,
                       ckpt_minutes=args.ckpt_minutes, ckpt_every=args.ckpt_every,
                       log_every=args.log_every, warmup=args.warmup,
                       save_optimizer=args.save_optimizer, schedule=args.schedule)
