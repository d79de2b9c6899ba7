"""Sensitivity rules (THEORY R6): they judge the lipschitz and jacobian passes' numbers."""
