"""Stage 4, tracing: an ``nn.Module`` plus example inputs becomes a :class:`modelcheck.ir.Graph`.

Owns the tracers (``fx`` → ``export`` → ``hooks``, tried in that order by :func:`tracers.trace_model`),
their lowering into the IR (``lower``, ``functions`` and the handler tables) and the value records that
tracers share (``values``). Nothing outside this package sees a ``torch.fx`` or ``torch.export`` object.

May import: records (``modelcheck.errors``, ``modelcheck.ir``), ``modelcheck.frames`` and
``modelcheck.layers``; never ``load``, ``passes`` or anything above them.
"""
