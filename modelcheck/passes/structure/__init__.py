"""The structure pass: residual joins and stacks, plain chains, saturating chains, attention score sites.

``summary`` runs the pass and stores a :class:`~modelcheck.passes.facts.StructureSummary`; ``graph``
holds the graph walks (topological order, shortest paths, scalar factors); ``residual``, ``chains`` and
``attention`` find each kind of structure.

May import: records, the tools and ``modelcheck.passes`` (the registry and ``facts``).
"""
