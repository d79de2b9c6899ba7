"""One measurement, run in a fresh process by ``benchmarks/run.py`` (so that its peak RSS is its own).

    python benchmarks/lint_speed.py baseline FILE [--meta]   # import torch, import FILE, build its model
    python benchmarks/lint_speed.py torchinfo FILE           # the same, then torchinfo.summary() on it
    python benchmarks/lint_speed.py passes FILE              # the same, then trace + each pass, timed

Prints one JSON object on stdout: ``import_s`` (``import torch``), ``build_s`` (importing the file and
building the model: what every tool pays before it can look at a model), ``params``, and for
``torchinfo`` ``summary_s``, for ``passes`` ``check_s`` (the input check's forward, which takes the
norms' row statistics), ``trace_s`` and ``pass_s`` (seconds per analysis pass, in the order they ran:
where a slow lint spends its time; ``jacobian`` runs only for the opt-in MC401). The model is the file's first zero-argument ``nn.Module`` subclass or
annotated factory, as ``modelcheck lint`` would pick it (SPEC §1).
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import sys
import time
from pathlib import Path
from typing import Any


def load_file(path: Path, prefix: str = "bench") -> Any:
    """Import a model file by path under a private name, registered in ``sys.modules`` (dataclasses and
    pickling look their module up there). The benchmark scripts' one loader."""
    spec = importlib.util.spec_from_file_location(f"{prefix}_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def first_model(module: Any) -> Any:
    from torch import nn

    for obj in vars(module).values():
        if getattr(obj, "__module__", None) != module.__name__:
            continue
        is_class = inspect.isclass(obj) and issubclass(obj, nn.Module)
        is_factory = inspect.isfunction(obj) and obj.__annotations__.get("return") in ("nn.Module", nn.Module)
        if (is_class or is_factory) and not any(
            p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            for p in inspect.signature(obj).parameters.values()
        ):
            return obj
    raise SystemExit(f"no zero-argument model in {module.__file__}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("baseline", "torchinfo", "passes"))
    ap.add_argument("file", type=Path)
    ap.add_argument("--meta", action="store_true", help="build on the meta device")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    import torch

    t1 = time.perf_counter()
    sys.path.insert(0, str(args.file.parent))
    module = load_file(args.file)
    torch.manual_seed(0)
    with torch.device("meta") if args.meta else torch.device("cpu"):
        model = first_model(module)()
    model.train()
    t2 = time.perf_counter()
    out: dict[str, Any] = {
        "import_s": t1 - t0,
        "build_s": t2 - t1,
        "params": sum(p.numel() for p in model.parameters()),
    }
    if args.mode == "torchinfo":
        from torchinfo import summary

        inputs = module.example_inputs()
        t3 = time.perf_counter()
        summary(model, input_data=list(inputs), verbose=0, device="cpu")
        out["summary_s"] = time.perf_counter() - t3
    if args.mode == "passes":
        out.update(time_passes(model, tuple(module.example_inputs()), meta=args.meta))
    print(json.dumps(out))


def time_passes(model: Any, inputs: tuple[Any, ...], *, meta: bool) -> dict[str, Any]:
    from modelcheck.load import inputs as example
    from modelcheck.passes import PASSES, PassContext, load_builtin, run_passes
    from modelcheck.passes.lipschitz.compose import norm_rows_observation
    from modelcheck.trace.tracers import trace_model

    out: dict[str, Any] = {}
    rows = None if meta else norm_rows_observation(model)
    if rows is not None:  # as lint does: the norms' row statistics come from the input check's forward
        t0 = time.perf_counter()
        example.forward(model, inputs, "given", "", (), rows)
        out["check_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    graph = trace_model(model, inputs)
    out.update(trace_s=round(time.perf_counter() - t0, 3), tracer=graph.tracer, pass_s={})
    load_builtin()
    ctx = PassContext(inputs=inputs, meta=meta, model=model, bounds="fast", norm_rows=rows.values if rows else None)
    done: set[str] = set()

    def run(name: str) -> None:  # dependencies first, each timed on its own
        if name in done:
            return
        for dep in PASSES[name].requires:
            run(dep)
        t = time.perf_counter()
        run_passes(graph, [name], ctx)
        out["pass_s"][name] = round(time.perf_counter() - t, 3)
        done.add(name)

    for name in list(PASSES):
        run(name)
    if ctx.skipped:
        out["skipped"] = dict(ctx.skipped)
    return out


if __name__ == "__main__":
    main()
