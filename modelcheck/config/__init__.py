"""Stage 2, settings: the configuration a run is made with.

Owns reading ``[tool.modelcheck]`` from the nearest ``pyproject.toml`` and merging it with the command
line into one :class:`~modelcheck.config.settings.Settings` (``settings``), and the table of keys,
types and defaults that both the file and the command line are checked against (``table``).

May import: records (``errors``, ``diagnostics``, ``numbers``) only.
"""
