#!/usr/bin/env python
"""How long does ``modelcheck lint --probe`` take? Times ``run_probe`` on ~10M-parameter models.

    python benchmarks/probe_bench.py                       # default settings, auto device
    python benchmarks/probe_bench.py --device cuda --repeat 3
    python benchmarks/probe_bench.py --models mlp --steps 100 --no-sharpness

Prints one row per model: model, params, device, steps, seconds (best of --repeat, after one warm-up
run that pays for imports and kernel selection), the share of that time spent in sharpness checks, and
the time of the same number of plain training steps with no measurement ("bare loop") for comparison.
The target (issue): a 10M-parameter model probes in under 60 s on a 2-core CPU with default settings.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modelcheck.probe import ProbeOptions, run_probe  # noqa: E402
from modelcheck.probe.device import describe_device, select_device  # noqa: E402
from modelcheck.probe.task import make_optimizer, output_tensor  # noqa: E402


class MLP(nn.Module):
    """10 x Linear(1024, 1024) + GELU: 10.5M parameters; input (64, 1024)."""

    def __init__(self, width: int = 1024, depth: int = 10) -> None:
        super().__init__()
        self.layers = nn.Sequential(*[m for _ in range(depth) for m in (nn.Linear(width, width), nn.GELU())])
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(x))


class TinyLM(nn.Module):
    """Pre-LN Transformer, d=256, 10 layers, vocab 4096: 9.9M parameters; input ids (8, 64)."""

    def __init__(self, vocab: int = 4096, d: int = 256, layers: int = 10, heads: int = 4, ctx: int = 128) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.zeros(1, ctx, d))
        layer = nn.TransformerEncoderLayer(d, heads, 4 * d, dropout=0.0, batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.tok(ids) + self.pos[:, : ids.shape[1]]
        return self.head(self.norm(self.body(x)))


class ConvNet(nn.Module):
    """8 x Conv2d(384, 384, 3) + BN + ReLU on 16x16 maps: 10.6M parameters; input (4, 3, 16, 16)."""

    def __init__(self, channels: int = 384, depth: int = 8) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1)]
        for _ in range(depth):
            blocks += [nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU()]
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(channels, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean((2, 3)))


MODELS: dict[str, tuple[Callable[[], nn.Module], Callable[[], tuple[torch.Tensor, ...]]]] = {
    "mlp": (MLP, lambda: (torch.randn(64, 1024),)),
    "transformer": (TinyLM, lambda: (torch.randint(0, 4096, (8, 64)),)),
    "cnn": (ConvNet, lambda: (torch.randn(4, 3, 16, 16),)),
}


def bare_loop(name: str, options: ProbeOptions) -> float:
    """Seconds for the same number of plain training steps (Adam/SGD on MSE), no measurement at all."""
    build, inputs = MODELS[name]
    device = select_device(options.device)
    torch.manual_seed(0)
    model = build().to(device).train()
    x = tuple(t.to(device) for t in inputs())
    target = torch.randn_like(output_tensor(model(*x)).float())
    opt = make_optimizer(list(model.parameters()), options)
    start = time.perf_counter()
    for _ in range(options.steps):
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(output_tensor(model(*x)).float(), target)
        loss.backward()
        opt.step()
    loss.item()  # wait for the device
    return time.perf_counter() - start


def bench(name: str, options: ProbeOptions, repeat: int) -> tuple[int, float, float, str]:
    build, inputs = MODELS[name]
    times, sharp = [], 0.0
    for i in range(repeat + 1):  # the first run warms up (imports, allocator, kernel choice)
        torch.manual_seed(0)
        model = build()
        params = sum(p.numel() for p in model.parameters())
        start = time.perf_counter()
        result = run_probe(model, inputs(), None, (), options)
        elapsed = time.perf_counter() - start
        if i:
            times.append(elapsed)
        if options.sharpness_checks and i == repeat:
            torch.manual_seed(0)
            start = time.perf_counter()
            run_probe(build(), inputs(), None, (), ProbeOptions(**{**vars(options), "sharpness_checks": 0}))
            sharp = max(0.0, 1.0 - (time.perf_counter() - start) / elapsed)
        del model
    return params, min(times), sharp, result.device


def count_syncs(name: str, options: ProbeOptions) -> float:
    """Host<->device synchronisations per training step (CUDA sync-debug warnings), sharpness off."""
    build, inputs = MODELS[name]
    steps = options.steps
    torch.manual_seed(0)
    model = build()
    opts = ProbeOptions(**{**vars(options), "sharpness_checks": 0, "log_every": 10**9})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            run_probe(model, inputs(), None, (), opts)
        finally:
            torch.cuda.set_sync_debug_mode(0)
    syncs = sum(1 for w in caught if "synchroniz" in str(w.message))
    return syncs / steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N, mps (default: auto)")
    parser.add_argument("--models", nargs="+", default=["mlp", "transformer"], choices=sorted(MODELS))
    parser.add_argument("--steps", type=int, default=ProbeOptions.steps)
    parser.add_argument("--optimizer", default=ProbeOptions.optimizer, choices=("adam", "adamw", "sgd"))
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per model (best is shown)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    parser.add_argument("--no-sharpness", action="store_true", help="skip the Hessian checks")
    parser.add_argument("--sync-debug", action="store_true",
                        help="CUDA: also count host syncs per step (torch.cuda.set_sync_debug_mode)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    options = ProbeOptions(steps=args.steps, optimizer=args.optimizer, device=args.device, progress=False,
                           sharpness_checks=0 if args.no_sharpness else ProbeOptions.sharpness_checks)
    device = describe_device(select_device(args.device))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, device {device}")
    cuda = device.startswith("cuda")
    header = (f"{'model':<12} {'params':>8} {'device':<28} {'steps':>5} {'seconds':>8} {'sharpness':>9} "
              f"{'bare loop':>9}")
    if cuda:
        header += f" {'peak MiB':>9}" + (f" {'syncs/step':>10}" if args.sync_debug else "")
    print(header)
    print("-" * len(header))
    for name in args.models:
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        params, seconds, sharp, dev = bench(name, options, max(args.repeat, 1))
        share = f"{100 * sharp:.0f}%" if options.sharpness_checks else "off"
        bare = bare_loop(name, options)
        row = (f"{name:<12} {params / 1e6:>7.1f}M {dev:<28} {args.steps:>5} {seconds:>8.2f} {share:>9} "
               f"{bare:>9.2f}")
        if cuda:
            row += f" {torch.cuda.max_memory_allocated() / 2**20:>9.0f}"
            if args.sync_debug:
                row += f" {count_syncs(name, options):>10.1f}"
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
