"""Stage 7, engine: runs a lint, paths in, a :class:`~modelcheck.diagnostics.RunReport` out.

Owns the run (``run``: collect files, scan, select rules, dispatch), the jobs (``jobs``: cache, then
isolated workers), the workers (``pool``: the parent's side, timeouts and deaths; ``zygote`` and
``worker``: a torch-preloaded fork server and one file's life in a fork of it; ``sandbox``: what a
worker sets up and records; ``progress``: its events), one file (``file``: import, its models), one
model (``model``: build, inputs, trace, passes, rules, probe, ``# noqa``), running passes and rules over
a graph (``checks``), the result cache (``cache``), reports as data (``codec``), the installed rules as
data (``catalog``) and the records they
pass around (``records``).

May import: every stage below it (records, numerics, tools, settings, load, trace, passes, rules,
probe). Only the command line imports the engine; nothing in the engine prints.
"""
