"""Stage 1, numerics: pure mathematics on numbers and tensors, with no knowledge of models or graphs.

Owns the activation functions by canonical name, one row each (``activations``: φ, its kinks, its
Lipschitz constant, its range, what findings call it), the Gaussian expectations of the mean-field
theory (``gaussian``) and the init gains built on them
(``gains``), init distributions (``initdist``), certified spectral-norm bounds (``certify``: one Gram
product proved by Cholesky; ``certifier``: shape-grouped batches of them; ``spectral``: the wrappers,
cheap and Bai-Yin bounds; ``conv_bounds``: convolutions), local Jacobian norms (``jacobian_norm``) and
how many threads a piece of work gets (``threads``).

May import: torch, the standard library and itself; nothing else of modelcheck.
"""
