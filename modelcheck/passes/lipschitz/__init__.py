"""The Lipschitz pass (THEORY §1): certified per-op bounds composed into a global upper bound.

``compose`` walks the graph and composes; ``ops`` bounds each op; ``const`` holds per-op constants and
norm-row statistics; ``env`` is the pass's view of the graph's tensors and the certifier's batch.

May import: records, ``numerics``, the tools and ``modelcheck.passes`` (the registry and ``facts``).
"""
