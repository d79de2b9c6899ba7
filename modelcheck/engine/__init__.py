"""Stage 7, engine: runs a lint, paths in, a :class:`~modelcheck.diagnostics.RunReport` out.

Owns the run (``run``: collect files, scan, select rules, dispatch), worker processes (``jobs``), one
file (``file``: cache, import, its models), one model (``model``: build, inputs, trace, passes, rules,
probe, ``# noqa``), running passes and rules over a graph (``checks``), the result cache (``cache``)
and the records they pass around (``records``).

May import: every stage below it (records, numerics, tools, settings, load, trace, passes, rules,
probe). Only the command line imports the engine; nothing in the engine prints.
"""
