"""The signal-propagation pass (THEORY §2-§3): predicted per-node activation and gradient second moments.

``propagate`` runs one forward and one backward sweep over the graph; the per-op rules live in ``ops``
(elementwise, weight ops), ``mixing`` (norms, reshapes, pooling, reductions, matmul), ``attention``
(softmax, scaled dot-product attention, ``nn.MultiheadAttention``) and ``local`` (eager simulation of
small parameter-free modules).

May import: records, ``numerics``, the tools and ``modelcheck.passes`` (the registry and ``facts``).
"""
