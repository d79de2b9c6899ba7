"""Stage 3, load: from a path on disk to built models and their example inputs.

Owns finding files and reading them without importing them (``discovery``; ``toplevel``: what a
file's top level runs and builds, AST only, no torch), the name and ``sys.path`` a file is imported
with (``modname``), importing a user's file and building its models on CPU or ``meta`` (``build``),
which models of a file to lint and with which default config arguments (``choose``, ``arguments``),
recording how each parameter was initialised while it is built (``initrecord``) and which source line
built each module (``sites``), and finding or inferring example inputs (``inputs``; ``signature``:
one input per parameter of ``forward``, sized from the model and its config).

May import: records (``errors``, ``ir``, ``diagnostics``, ``numbers``), ``numerics``, the tools
(``frames``, ``capture``, ``layers``) and settings (``config``, ``rule``, ``registry``, ``suppress``).
Never ``trace``, ``passes``, ``engine`` or anything above. This package's ``__init__`` stays empty of
imports so that discovery never drags torch in.
"""
