"""Stage 3, load: from a path on disk to built models and their example inputs.

Owns finding files and reading them without importing them (``discovery``, AST only, no torch),
importing a user's file and building its models on CPU or ``meta`` (``build``), recording how each
parameter was initialised while it is built (``initrecord``) and which source line built each module
(``sites``), and finding or inferring example inputs (``inputs``).

May import: records (``errors``, ``ir``, ``diagnostics``, ``numbers``), ``numerics``, the tools
(``frames``, ``capture``, ``layers``) and settings (``config``, ``rule``, ``registry``, ``suppress``).
Never ``trace``, ``passes``, ``engine`` or anything above. This package's ``__init__`` stays empty of
imports so that discovery never drags torch in.
"""
