"""``modelcheck lint PATH...``: lint model files and exit 0 (clean), 1 (findings) or 2 (tool error)."""

from __future__ import annotations

import enum
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Optional

import typer

from modelcheck.cli.output import emit, fail, prepare
from modelcheck.config.settings import (
    CliOptions,
    ProbeSettings,
    Settings,
    resolve_settings,
    split_selectors,
)
from modelcheck.diagnostics import Severity
from modelcheck.engine import prestart
from modelcheck.engine.records import LAST_RUN
from modelcheck.engine.run import lint_paths
from modelcheck.errors import UsageError
from modelcheck.exitcode import ExitCode, exit_code


class Format(str, enum.Enum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"


class Tracer(str, enum.Enum):
    fx = "fx"
    export = "export"
    hooks = "hooks"


class Bounds(str, enum.Enum):
    fast = "fast"
    tight = "tight"


SELECT = "Rule selection"
MODELS = "Models and inputs"
PROBE = "Probe (a short measured training run)"
RUN = "Run"


def lint(
    paths: Annotated[Optional[list[str]], typer.Argument(help="Files or folders to lint (default: the current folder).", show_default=False)] = None,
    format: Annotated[Optional[Format], typer.Option("--format", "-f", help="Output format (default: text, or format in the config).", show_default=False)] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the report to FILE instead of stdout.", dir_okay=False)] = None,
    select: Annotated[Optional[list[str]], typer.Option("--select", help="Rules to enable (codes, prefixes, names or ALL; comma-separated). Replaces the config's select.", rich_help_panel=SELECT)] = None,
    ignore: Annotated[Optional[list[str]], typer.Option("--ignore", help="Rules to disable, on top of the config's ignore.", rich_help_panel=SELECT)] = None,
    extend_select: Annotated[Optional[list[str]], typer.Option("--extend-select", help="Rules to enable on top of select.", rich_help_panel=SELECT)] = None,
    fail_on: Annotated[Optional[Severity], typer.Option("--fail-on", help="Lowest severity that makes the exit code 1 (default: error).", show_default=False, rich_help_panel=SELECT)] = None,
    exit_zero: Annotated[bool, typer.Option("--exit-zero", help="Exit 0 even with findings (tool errors still exit 2).", rich_help_panel=SELECT)] = False,
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Lint only this class or factory function (repeatable).", rich_help_panel=MODELS)] = None,
    model_kwargs: Annotated[Optional[list[str]], typer.Option("--model-kwargs", help="Constructor arguments as JSON: 'Net={\"dim\": 64}' (repeatable; without NAME= for every model).", rich_help_panel=MODELS)] = None,
    input_shape: Annotated[Optional[list[str]], typer.Option("--input-shape", help="Shape of one example input, e.g. 8,3,32,32 or int64:8,32 (dtype: first; repeat for several inputs).", rich_help_panel=MODELS)] = None,
    meta: Annotated[Optional[bool], typer.Option("--meta/--no-meta", help="Build models on the meta device (no memory for weights).", show_default=False, rich_help_panel=MODELS)] = None,
    all_variants: Annotated[bool, typer.Option("--all-variants", help="Lint every factory of a model class, not only the smallest.", rich_help_panel=MODELS)] = False,
    import_scripts: Annotated[bool, typer.Option("--import-scripts", help="Import files whose top level runs code (training scripts); never setup.py or conftest.py.", rich_help_panel=MODELS)] = False,
    tracer: Annotated[Optional[Tracer], typer.Option("--tracer", help="Tracer to try first (default: fx, then export, then hooks).", show_default=False, rich_help_panel=MODELS)] = None,
    bounds: Annotated[Optional[Bounds], typer.Option("--bounds", help="Lipschitz bounds: fast (default), or tight (FFT bounds for every conv on its input size; slower).", show_default=False, rich_help_panel=MODELS)] = None,
    probe: Annotated[bool, typer.Option("--probe", help="Confirm findings with a short training run on synthetic data.", rich_help_panel=PROBE)] = False,
    device: Annotated[Optional[str], typer.Option("--device", help="Probe device: cpu, cuda or mps (default: the best available).", show_default=False, rich_help_panel=PROBE)] = None,
    probe_steps: Annotated[Optional[int], typer.Option("--probe-steps", help="Probe training steps.", min=1, rich_help_panel=PROBE)] = None,
    optimizer: Annotated[Optional[str], typer.Option("--optimizer", help="Probe optimizer: adam, adamw or sgd.", rich_help_panel=PROBE)] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Probe learning rate.", rich_help_panel=PROBE)] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Probe batch size (default: the example inputs').", show_default=False, min=1, rich_help_panel=PROBE)] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write a PNG of per-layer gradient RMS over the probe's steps.", dir_okay=False, rich_help_panel=PROBE)] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Lint files in N worker processes.", min=1, rich_help_panel=RUN)] = 1,
    timeout: Annotated[Optional[float], typer.Option("--timeout", help="Seconds one model may take (import, build, analysis) before its file is stopped (default: 120, more for large models; config: timeout).", show_default=False, rich_help_panel=RUN)] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the result cache.", rich_help_panel=RUN)] = False,
    clear_cache: Annotated[bool, typer.Option("--clear-cache", help="Empty the result cache before linting (as `modelcheck clean`).", rich_help_panel=RUN)] = False,
    config: Annotated[Optional[Path], typer.Option("--config", help="Configuration file to use instead of the closest pyproject.toml.", dir_okay=False, rich_help_panel=RUN)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show every note, the full profile and the rule legend.", rich_help_panel=RUN)] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Tracebacks for errors, and run statistics on stderr.", rich_help_panel=RUN)] = False,
) -> None:
    """Lint the models defined in PATHS (files, or folders searched for *.py)."""
    paths = paths or ["."]
    fmt = format.value if format else "text"
    probe_flags = {"--device": device, "--probe-steps": probe_steps, "--optimizer": optimizer, "--lr": lr, "--batch-size": batch_size, "--plot": plot}
    try:
        given = [flag for flag, value in probe_flags.items() if value is not None]
        if given and not probe:
            raise UsageError(f"{', '.join(given)} only apply with --probe")
        _check_output(output)
        jobs = _capped(jobs)
        cli = CliOptions(
            config=config,
            select=split_selectors(select) if select else None,
            ignore=split_selectors(ignore),
            extend_select=split_selectors(extend_select),
            fail_on=fail_on.value if fail_on else None,
            format=format.value if format else None,
            meta=meta,
            tracer=tracer.value if tracer else None,
            bounds=bounds.value if bounds else None,
            model_names=tuple(model or ()),
            model_kwargs=tuple(model_kwargs or ()),
            input_shapes=tuple(input_shape or ()),
            probe=ProbeSettings(device, probe_steps, optimizer, lr, batch_size, str(plot) if plot else None) if probe else None,
            jobs=jobs,
            timeout=timeout,
            cache=not no_cache,
            debug=debug,
            verbose=verbose,
            import_scripts=import_scripts,
            all_variants=all_variants,
        )
        settings = resolve_settings(paths, cli)
        fmt = settings.format
        _check_probe(settings)
        if clear_cache:
            from modelcheck.engine.cache import clear

            clear(settings)
        if prestart.started():
            prepare(fmt)
        report = lint_paths(paths, settings)
    except UsageError as exc:
        fail(str(exc), fmt, root=Path.cwd(), output=output)
        raise typer.Exit(ExitCode.TOOL_ERROR) from None
    except Exception as exc:  # a bug of ours: one line, the traceback only with --debug
        if debug:
            traceback.print_exc()
        fail(f"internal error: {type(exc).__name__}: {exc} (a bug in modelcheck; rerun with --debug and report it)", fmt, root=Path.cwd(), output=output)
        raise typer.Exit(ExitCode.TOOL_ERROR) from None
    try:
        emit(report, fmt, root=settings.root, output=output, verbose=settings.verbose, debug=settings.debug)
    except OSError as exc:  # the folder went away during the lint, a full disk, ...
        print(f"modelcheck: error: cannot write the report to {output}: {exc.strerror}", file=sys.stderr)
        raise typer.Exit(ExitCode.TOOL_ERROR) from None
    code = exit_code(report, settings.fail_on, exit_zero=exit_zero)
    if debug:
        _debug_line(settings, code)
    raise typer.Exit(code)


def _check_output(output: Path | None) -> None:
    """A report that cannot be written is refused before anything is linted, not after."""
    if output is None:
        return
    folder = output.parent
    if not folder.is_dir():
        raise UsageError(f"--output {output}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (output.exists() and not os.access(output, os.W_OK)):
        raise UsageError(f"--output {output}: not writable")


def _capped(jobs: int) -> int:
    """``--jobs`` above the CPU count only adds memory (each worker holds a model) and contention."""
    from modelcheck.engine.pool import cpu_count

    cpus = cpu_count()
    if jobs > cpus:
        print(f"modelcheck: note: --jobs {jobs} capped at {cpus}, the CPU count", file=sys.stderr)
        return cpus
    return jobs


def _check_probe(settings: Settings) -> None:
    """Refuse bad probe options before anything is linted (the probe validates its own options)."""
    if settings.probe is None:
        return
    from dataclasses import asdict

    try:
        from modelcheck.probe import ProbeOptions
    except ImportError as exc:
        raise UsageError(f"--probe is not available: {exc}") from None
    given = {k: v for k, v in asdict(settings.probe).items() if v is not None}
    ProbeOptions(**given).validated()


def _debug_line(settings: Settings, code: ExitCode) -> None:
    print(
        f"modelcheck: debug: files={LAST_RUN.files} linted={LAST_RUN.linted} cached={LAST_RUN.cached} "
        f"torch_imported={'torch' in sys.modules} seconds={LAST_RUN.seconds:.3f} peak_mb={LAST_RUN.peak_mb:.0f} "
        f"exit={int(code)} "
        f"root={settings.root} config={settings.config_path}",
        file=sys.stderr,
    )
