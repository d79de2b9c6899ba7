"""Imported once by the fork server (the zygote): torch, the analysis and the rules, ready to fork."""

from modelcheck.engine.worker import preload

preload()
