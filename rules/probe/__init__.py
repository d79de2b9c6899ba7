"""Probe rules (MC900-MC903): symptoms that only a short training run shows (``modelcheck lint --probe``).

Their checks yield nothing statically; ``modelcheck.probe`` reports them, with the codes, names and
default severities declared here, so that selection, severity overrides and ``modelcheck rule`` work the
same as for every other rule.
"""
