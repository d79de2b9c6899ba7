"""The certificates computed ahead (issue 14), measured in CPU seconds, which a busy machine distorts
far less than wall time: the main thread's CPU is the critical path the background thread shortens.

    OMP_NUM_THREADS=1 python benchmarks/ahead_cpu.py benchmarks/models/gpt2_small.py --repeat 3

Each round lints FILE in this process (``lint_paths``, no cache) twice, without and with the background
certification, alternating, and prints per run: wall seconds, the process's CPU seconds, the main
thread's CPU seconds, and the main thread's CPU in the trace and in the lipschitz pass. The first round
is a warm-up (imports, first-call caches) and is not printed. With one intra-op thread (as above) the
main thread's CPU is where an idle two-core machine's wall time goes; the background thread takes the
other core. Nothing here asserts a time; the figures go in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from typing import Any, Callable


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    import modelcheck.engine.model as engine_model
    from modelcheck import registry
    from modelcheck.config.settings import Settings
    from modelcheck.engine.run import lint_paths
    from modelcheck.passes import PASSES, load_builtin
    from modelcheck.passes.lipschitz.ahead import Questions, questions

    load_builtin()
    spent: dict[str, float] = {}

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*a: Any, **k: Any) -> Any:
            t = time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                spent[name] = spent.get(name, 0.0) + time.thread_time() - t
        return run

    engine_model.trace_model = timed("trace", engine_model.trace_model)  # type: ignore[attr-defined]
    PASSES["lipschitz"] = dataclasses.replace(PASSES["lipschitz"], run=timed("lipschitz", PASSES["lipschitz"].run))
    rules = registry.load_rules()
    engine_model.AHEAD_MIN_THREADS = 1  # type: ignore[attr-defined]  # measured whatever the thread count

    def once(ahead: bool) -> dict[str, Any]:
        engine_model.questions = questions if ahead else (lambda model: Questions([], []))  # type: ignore[attr-defined]
        spent.clear()
        t, c, m = time.perf_counter(), time.process_time(), time.thread_time()
        report = lint_paths([args.file], Settings(cache=False), rules=rules)
        out: dict[str, Any] = {"ahead": ahead, "wall_s": time.perf_counter() - t, "cpu_s": time.process_time() - c,
               "main_cpu_s": time.thread_time() - m, **{f"{k}_main_cpu_s": v for k, v in spent.items()}}
        model = report.models[0]
        out["lipschitz"] = model.metrics.lipschitz_upper_bound
        out["status"] = model.status
        return {k: round(v, 3) if isinstance(v, float) and k.endswith("_s") else v for k, v in out.items()}

    once(False)
    once(True)
    print(json.dumps({"load": os.getloadavg(), "omp": os.environ.get("OMP_NUM_THREADS")}))
    for _ in range(args.repeat):
        for ahead in (False, True):
            print(json.dumps(once(ahead)), flush=True)
    print(json.dumps({"load": os.getloadavg()}))


if __name__ == "__main__":
    main()
