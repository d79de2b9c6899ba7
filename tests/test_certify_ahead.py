"""Certificates computed ahead of the lipschitz pass (issue 14): the same numbers as the pass's own,
never served for a tensor that changed since, and the calling thread's intra-op threads restored."""

from __future__ import annotations

import pytest
import torch
from lipschitz_ir import Residual, to_ir
from torch import nn

from modelcheck.numerics import certify
from modelcheck.numerics.ahead import Ahead
from modelcheck.passes import PassContext, run_passes
from modelcheck.passes.lipschitz.ahead import questions


@pytest.fixture(autouse=True)
def _one_thread():  # type: ignore[no-untyped-def]
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), Residual(nn.Conv2d(16, 16, 1), nn.ReLU()),
        nn.Conv2d(16, 8, 2, stride=2), nn.Flatten(), nn.Linear(8 * 4 * 4, 64), nn.GELU(),
        nn.Linear(64, 64), nn.Linear(64, 10),
    )


def _bounds(model: nn.Module, x: torch.Tensor, ahead: Ahead | None) -> tuple[float | None, dict[str, float]]:
    g = to_ir(model, x)
    run_passes(g, ["lipschitz"], PassContext(inputs=(x,), model=model, ahead=ahead))
    summary = g.facts["lipschitz"]
    return summary.upper_bound, dict(summary.per_module)


def test_questions_cover_the_weights() -> None:
    q = questions(_model())
    assert len(q.gram) == 6 and not q.cheap  # 3 convs, 3 linears: every weight matrix of this model
    assert [tuple(t.shape) for t in q.gram[:2]] == [(1, 16, 27), (1, 16, 16)]


def test_ahead_answers_equal_the_certifier() -> None:
    torch.manual_seed(1)
    mats = [torch.randn(1, 40, 70), torch.randn(3, 40, 70), torch.randn(1, 300, 200)]
    with Ahead(mats) as ahead:
        ahead.finish()
        for m in mats:
            got = ahead.lookup(m)
            assert got is not None
            assert torch.equal(got, certify.sigma_bounds(m)) or torch.allclose(got, certify.sigma_bounds(m), rtol=1e-12)
            sv = torch.linalg.matrix_norm(m.double(), 2)
            assert bool((got >= sv).all()) and bool((got <= sv * 1.01).all())  # a certificate, and tight


def test_pass_with_ahead_equals_pass_without() -> None:
    model, x = _model(), torch.randn(2, 3, 8, 8)
    plain = _bounds(model, x, None)
    with Ahead(*questions(model)) as ahead:
        with_ahead = _bounds(model, x, ahead)
    assert ahead.served == 6  # every weight's answer came from ahead
    assert plain[0] is not None
    assert with_ahead[0] == pytest.approx(plain[0], rel=1e-12)
    assert with_ahead[1].keys() == plain[1].keys()
    for k, v in plain[1].items():
        assert with_ahead[1][k] == pytest.approx(v, rel=1e-12)


@pytest.mark.parametrize("how", ["data", "inplace", "replace"])
def test_changed_weights_are_never_served(how: str) -> None:
    """Certified ahead, then the weights change (an edit through ``.data`` does not bump the autograd
    version): the pass must bound the new weights, as if nothing had been certified ahead."""
    model, x = _model(), torch.randn(2, 3, 8, 8)
    with Ahead(*questions(model)) as ahead:
        ahead.finish()
        last = model[-1]
        assert isinstance(last, nn.Linear)
        if how == "data":
            last.weight.data.mul_(3.0)
        elif how == "inplace":
            with torch.no_grad():
                last.weight.mul_(3.0)
        else:
            last.weight = nn.Parameter(last.weight.detach() * 3.0)
        assert ahead.lookup(last.weight.detach().reshape(10, 64)[None]) is None
        stale = _bounds(model, x, ahead)
    assert ahead.served == 5  # all but the changed weight
    fresh = _bounds(model, x, None)
    assert stale[1]["8"] == pytest.approx(fresh[1]["8"], rel=1e-12)
    assert stale[0] == pytest.approx(fresh[0], rel=1e-12)


def test_threads_restored_and_closing_early_is_safe() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(2)
    ahead = Ahead([torch.randn(4, 200, 200) for _ in range(3)]).start()
    assert torch.get_num_threads() == 1  # sharing the cores with the background thread
    ahead.close()  # the model failed before its lipschitz pass: no more work, nothing waited for
    assert torch.get_num_threads() == 2
    assert ahead.lookup(torch.randn(4, 200, 200)) is None


def test_a_starved_background_batch_is_certified_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy machine gives the lowest-priority thread no CPU: the pass does not wait for its batch."""
    import threading

    release = threading.Event()
    real = certify.sigma_bounds_many

    def stalled(ws: list[torch.Tensor]) -> list[torch.Tensor]:
        if threading.current_thread().name == "modelcheck-ahead":
            release.wait(60)  # asleep: no CPU, as if starved
        return real(ws)

    monkeypatch.setattr(certify, "sigma_bounds_many", stalled)
    torch.manual_seed(3)
    mats = [torch.randn(1, 64, 96), torch.randn(2, 48, 48)]
    ahead = Ahead(mats).start()
    thread = ahead._thread
    try:
        ahead.finish()
        assert thread is not None and thread.is_alive()  # still asleep: its batch was done here
        for m in mats:
            got = ahead.lookup(m)
            assert got is not None and torch.equal(got, real([m])[0])
    finally:
        release.set()


@pytest.mark.parametrize("tracer", ["fx", "export", "hooks"])
def test_lint_reports_equal_with_and_without_ahead(tracer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The background thread certifies while fx patches Module.__call__, export runs its fake and proxy
    modes (thread-local) or the hooks tracer runs the model: the report is the same to the last bit."""
    from pathlib import Path

    import modelcheck.engine.model as engine_model
    from modelcheck import registry
    from modelcheck.config.settings import Settings
    from modelcheck.engine.run import lint_paths
    from modelcheck.passes.lipschitz.ahead import Questions

    example = str(Path(__file__).resolve().parents[1] / "examples" / "healthy_resmlp.py")
    rules = registry.load_rules()
    served: list[int] = []
    real_close = Ahead.close

    def close(self: Ahead) -> None:
        served.append(self.served)
        real_close(self)

    monkeypatch.setattr(Ahead, "close", close)
    monkeypatch.setattr(engine_model, "AHEAD_MIN_THREADS", 1)  # this test's one thread: on anyway

    def report(ahead: bool):  # type: ignore[no-untyped-def]
        monkeypatch.setattr(engine_model, "questions", questions if ahead else (lambda m: Questions([], [])))
        (m,) = lint_paths([example], Settings(cache=False, tracer=tracer), rules=rules).models
        assert m.status == "ok" and m.tracer == tracer
        return m.metrics, m.module_bounds, m.findings

    off = report(False)
    served.clear()
    on = report(True)
    assert max(served) > 0  # answers did come from ahead
    assert on == off
