"""The transformers zoo: tiny offline configs of published architectures, written out as model files.

Each :class:`ZooModel` becomes a file that follows SPEC §1 exactly as a user would write it: either a
zero-argument ``nn.Module`` subclass wrapping the Hugging Face model (``style="wrapper"``, returning
``last_hidden_state``) or an annotated factory ``def build() -> nn.Module`` returning the raw HF model
(``style="factory"``, so the linter sees a structured ``ModelOutput``), plus a module-level
``example_inputs()``. Nothing is downloaded: every model is built from a config.

Helpers shared by the zoo, hostile and many-files tests: :func:`lint_cli` runs the real command line
in process (``--format json``), :func:`load_file` builds a file's model the way the engine does, and
:func:`measure_gains` measures the SPEC §2 gains with autograd.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import json
import math
import os
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

B, T, VOCAB = 2, 16, 128
_TOK = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}  # inside the tiny vocabulary
_TXT = {"vocab_size": VOCAB, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 128, "max_position_embeddings": 64, **_TOK}  # fmt: skip
_VIS = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
        "image_size": 32, "patch_size": 8}  # fmt: skip
_GQA = {**_TXT, "num_key_value_heads": 2}

INPUTS = {
    "ids": f"torch.randint(0, {VOCAB}, ({B}, {T}), generator=g)",
    "image": f"torch.randn({B}, 3, 32, 32, generator=g)",
    "mel": f"torch.randn({B}, 16, 64, generator=g)",  # 16 mel bins, 64 frames -> 32 positions
}


@dataclass(frozen=True)
class ZooModel:
    name: str
    model: str  # "GPT2Model" (from transformers) or "package.module:Class"
    config: str  # config class, from transformers
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    inputs: str = "ids"  # a key of INPUTS
    style: str = "wrapper"  # "wrapper": nn.Module subclass; "factory": def build() -> nn.Module
    slow: bool = False

    @property
    def class_name(self) -> str:
        return "".join(p.capitalize() for p in self.name.split("_")) + "Net"

    @property
    def model_name(self) -> str:
        """The name the report gives the model (class or factory function)."""
        return self.class_name if self.style == "wrapper" else "build"


# The canonical architectures of the brief first (fast), then more families (slow): CI runs both.
ZOO: tuple[ZooModel, ...] = (
    ZooModel("gpt2", "GPT2Model", "GPT2Config",
             {"vocab_size": VOCAB, "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 64, **_TOK}, style="factory"),
    ZooModel("bert", "BertModel", "BertConfig", _TXT),
    ZooModel("roberta", "RobertaModel", "RobertaConfig", {**_TXT, "max_position_embeddings": 80}, style="factory"),
    ZooModel("distilbert", "DistilBertModel", "DistilBertConfig",
             {"vocab_size": VOCAB, "dim": 64, "n_layers": 2, "n_heads": 4, "hidden_dim": 128,
              "max_position_embeddings": 64, **_TOK}),
    ZooModel("t5_encoder", "T5EncoderModel", "T5Config",
             {"vocab_size": VOCAB, "d_model": 64, "d_kv": 16, "d_ff": 128, "num_layers": 2, "num_heads": 4, **_TOK}),
    ZooModel("bart", "BartModel", "BartConfig",
             {"vocab_size": VOCAB, "d_model": 64, "encoder_layers": 2, "decoder_layers": 2,
              "encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 128,
              "decoder_ffn_dim": 128, "max_position_embeddings": 64, "decoder_start_token_id": 2, **_TOK},
             slow=True),
    ZooModel("llama", "LlamaModel", "LlamaConfig", _GQA, style="factory"),
    ZooModel("mistral", "MistralModel", "MistralConfig", _GQA),
    ZooModel("qwen2", "Qwen2Model", "Qwen2Config", _GQA, style="factory"),
    ZooModel("gemma", "GemmaModel", "GemmaConfig", {**_GQA, "head_dim": 16}),
    ZooModel("phi", "PhiModel", "PhiConfig", _TXT, style="factory"),
    ZooModel("falcon", "FalconModel", "FalconConfig",
             {"vocab_size": VOCAB, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, **_TOK}),
    ZooModel("gpt_neox", "GPTNeoXModel", "GPTNeoXConfig", _TXT, style="factory"),
    ZooModel("opt", "OPTModel", "OPTConfig",
             {"vocab_size": VOCAB, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "ffn_dim": 128, "max_position_embeddings": 64, "word_embed_proj_dim": 64, **_TOK}),
    ZooModel("vit", "ViTModel", "ViTConfig", _VIS, inputs="image"),
    ZooModel("deit", "DeiTModel", "DeiTConfig", _VIS, inputs="image", style="factory"),
    ZooModel("swin", "SwinModel", "SwinConfig",
             {"image_size": 32, "patch_size": 4, "embed_dim": 16, "depths": [1, 1], "num_heads": [2, 2],
              "window_size": 4}, inputs="image", slow=True),
    ZooModel("convnext", "ConvNextModel", "ConvNextConfig",
             {"hidden_sizes": [16, 32], "depths": [1, 1], "num_stages": 2}, inputs="image"),
    ZooModel("resnet", "ResNetModel", "ResNetConfig",
             {"embedding_size": 16, "hidden_sizes": [16, 32], "depths": [1, 1], "layer_type": "basic"},
             inputs="image", style="factory"),
    ZooModel("whisper_encoder", "transformers.models.whisper.modeling_whisper:WhisperEncoder", "WhisperConfig",
             {"vocab_size": VOCAB, "d_model": 64, "encoder_layers": 2, "encoder_attention_heads": 4,
              "encoder_ffn_dim": 128, "num_mel_bins": 16, "max_source_positions": 32,
              "decoder_start_token_id": 2, **_TOK}, inputs="mel"),
    ZooModel("clip_text", "CLIPTextModel", "CLIPTextConfig",
             {"vocab_size": VOCAB, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "intermediate_size": 128, "max_position_embeddings": 64, **_TOK}),
    ZooModel("clip_vision", "CLIPVisionModel", "CLIPVisionConfig", _VIS, inputs="image", style="factory"),
    # --- more families -------------------------------------------------------------------------
    ZooModel("albert", "AlbertModel", "AlbertConfig", {**_TXT, "embedding_size": 32}, slow=True),
    ZooModel("electra", "ElectraModel", "ElectraConfig", {**_TXT, "embedding_size": 32}, style="factory", slow=True),
    ZooModel("bloom", "BloomModel", "BloomConfig",
             {"vocab_size": VOCAB, "hidden_size": 64, "n_layer": 2, "n_head": 4, **_TOK}, slow=True),
    ZooModel("gptj", "GPTJModel", "GPTJConfig",
             {"vocab_size": VOCAB, "n_embd": 64, "n_layer": 2, "n_head": 4, "rotary_dim": 8, "n_positions": 64, **_TOK},
             style="factory", slow=True),
    ZooModel("qwen3", "Qwen3Model", "Qwen3Config", {**_GQA, "head_dim": 16}, slow=True),
    ZooModel("phi3", "Phi3Model", "Phi3Config", _GQA, style="factory", slow=True),
    ZooModel("stablelm", "StableLmModel", "StableLmConfig", _GQA, slow=True),
    ZooModel("olmo", "OlmoModel", "OlmoConfig", _GQA, style="factory", slow=True),
    ZooModel("gpt_bigcode", "GPTBigCodeModel", "GPTBigCodeConfig",
             {"vocab_size": VOCAB, "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 64, **_TOK}, slow=True),
    ZooModel("dinov2", "Dinov2Model", "Dinov2Config",
             {**{k: v for k, v in _VIS.items() if k != "intermediate_size"}, "mlp_ratio": 2},
             inputs="image", slow=True),
    ZooModel("beit", "BeitModel", "BeitConfig", {**_VIS, "vocab_size": VOCAB}, inputs="image", style="factory", slow=True),
    ZooModel("regnet", "RegNetModel", "RegNetConfig",
             {"embedding_size": 16, "hidden_sizes": [16, 32], "depths": [1, 1], "groups_width": 8},
             inputs="image", slow=True),
    ZooModel("convnextv2", "ConvNextV2Model", "ConvNextV2Config",
             {"hidden_sizes": [16, 32], "depths": [1, 1], "num_stages": 2}, inputs="image", style="factory", slow=True),
    ZooModel("deberta_v2", "DebertaV2Model", "DebertaV2Config", _TXT, slow=True),
    ZooModel("segformer", "SegformerModel", "SegformerConfig",
             {"hidden_sizes": [16, 32], "depths": [1, 1], "num_encoder_blocks": 2, "sr_ratios": [2, 1],
              "num_attention_heads": [1, 2], "strides": [4, 2], "patch_sizes": [7, 3], "mlp_ratios": [2, 2]},
             inputs="image", style="factory", slow=True),
)  # fmt: skip


def _import_line(entry: ZooModel) -> tuple[str, str]:
    """(import statements, model class name) for the generated file."""
    if ":" in entry.model:
        module, cls = entry.model.split(":")
        return f"from {module} import {cls}\nfrom transformers import {entry.config}", cls
    return f"from transformers import {entry.config}, {entry.model}", entry.model


def model_source(entry: ZooModel) -> str:
    imports, cls = _import_line(entry)
    build = f"{cls}({entry.config}(**CONFIG))"
    if entry.style == "wrapper":
        body = f'''
            class {entry.class_name}(nn.Module):
                """{entry.name}, wrapped: returns the last hidden state."""

                def __init__(self) -> None:
                    super().__init__()
                    self.net = {build}

                def forward(self, x: torch.Tensor) -> torch.Tensor:
                    return self.net(x).last_hidden_state
        '''
    else:
        body = f'''
            def build() -> nn.Module:
                """{entry.name}, as transformers builds it (returns a ModelOutput)."""
                return {build}
        '''
    tail = f"""
        def example_inputs() -> tuple[torch.Tensor, ...]:
            g = torch.Generator().manual_seed(0)
            return ({INPUTS[entry.inputs]},)
    """
    head = f'''"""Zoo model {entry.name} (generated by tests/zoo.py; tiny config, built offline)."""

import torch
from torch import nn
{imports}

CONFIG = {dict(entry.kwargs)!r}
'''
    return head + "\n" + textwrap.dedent(body) + "\n" + textwrap.dedent(tail)


def write_model(entry: ZooModel, folder: Path) -> Path:
    path = folder / f"zoo_{entry.name}.py"
    path.write_text(model_source(entry))
    return path


def tiny_model(prelude: str = "", *, name: str = "Net", width: int = 8) -> str:
    """The source of a one-``Linear`` model file with ``example_inputs()``; ``prelude`` runs at its import."""
    return textwrap.dedent(f"""\
        import torch
        from torch import nn
        {{prelude}}

        class {name}(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear({width}, 4)

            def forward(self, x):
                return self.fc(x)


        def example_inputs():
            return (torch.randn(2, {width}),)
    """).replace("{prelude}", textwrap.dedent(prelude).strip())


# --- running the command line ------------------------------------------------------------------


def subprocess_env(drop: Sequence[str] = ()) -> dict[str, str]:
    """This environment for a ``python`` child, with this checkout first on its path, less ``drop``."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    return env


def lint_cli(paths: Sequence[Path | str], *args: str, out: Path) -> tuple[int, dict[str, Any]]:
    """``modelcheck lint PATHS --format json ARGS`` in process; (exit code, parsed report).

    The report goes to a file (``-o``) so that nothing printed on the way can corrupt the JSON.
    """
    from typer.testing import CliRunner

    from modelcheck.cli import app

    out.unlink(missing_ok=True)
    result = CliRunner().invoke(app, ["lint", *map(str, paths), "--format", "json", "-o", str(out), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert out.exists(), f"exit {result.exit_code}, no report written; output:\n{result.output[-2000:]}"
    return result.exit_code, json.loads(out.read_text())


def findings_text(report: Mapping[str, Any], at_least: str = "info") -> list[str]:
    rank = {"info": 0, "warning": 1, "error": 2}
    return [
        f"{f['rule']} {f['severity']} {f.get('module') or '-'}: {f['message']}"
        for f in report["findings"]
        if rank[f["severity"]] >= rank[at_least]
    ]


# --- building a file's model outside the linter, and measuring it ---------------------------------

_seq = itertools.count()


def load_file(path: Path, name: str | None = None) -> tuple[nn.Module, tuple[Any, ...]]:
    """Import ``path`` and build its model ``name`` (default: the first defined) as the engine does:
    seeded, in training mode, with the file's ``example_inputs()``."""
    spec = importlib.util.spec_from_file_location(f"zoo_load_{next(_seq)}_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    obj = getattr(module, name) if name is not None else _first_model(module)
    torch.manual_seed(0)
    model = obj()
    model.train()
    return model, tuple(module.example_inputs())


def _first_model(module: Any) -> Any:
    """The first model SPEC §1 discovery would lint: a zero-argument nn.Module subclass defined in the
    file, or a public factory annotated to return an nn.Module."""
    for obj in vars(module).values():
        if getattr(obj, "__module__", None) != module.__name__:
            continue
        is_class = inspect.isclass(obj) and issubclass(obj, nn.Module)
        is_factory = inspect.isfunction(obj) and obj.__annotations__.get("return") in ("nn.Module", nn.Module)
        if (is_class or is_factory) and not any(
            p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            for p in inspect.signature(obj).parameters.values()
        ):
            return obj
    raise LookupError(f"no zero-argument model in {module.__file__}")


def first_float(out: Any) -> torch.Tensor | None:
    """SPEC §2's y: the tensor itself, ``last_hidden_state``, or the first floating tensor inside."""
    if isinstance(out, torch.Tensor):
        return out if out.is_floating_point() else None
    if isinstance(out, Mapping):
        if isinstance(out.get("last_hidden_state"), torch.Tensor):
            return out["last_hidden_state"]
        items: Any = out.values()
    elif hasattr(out, "__dataclass_fields__"):
        items = (getattr(out, f) for f in out.__dataclass_fields__)
    elif isinstance(out, (tuple, list)):
        items = out
    else:
        return None
    return next((t for t in map(first_float, items) if t is not None), None)


def rms(t: torch.Tensor) -> float:
    return float(t.detach().double().pow(2).mean().sqrt())


def measure_gains(model: nn.Module, inputs: tuple[Any, ...], seed: int = 0) -> tuple[float, float]:
    """SPEC §2, measured: (rms(y)/rms(x), rms(dL/dx)) with L = sum(y*u), u ~ N(0, 1), training mode.

    x is the first input if it is floating point, else the output of the first embedding lookup
    (the first ``nn.Embedding`` *called*, which is not always the first registered).
    """
    model.train()
    captured: dict[str, torch.Tensor] = {}

    def hook(_m: nn.Module, _i: Any, out: torch.Tensor) -> torch.Tensor | None:
        if "x" in captured:
            return None
        out = out.detach().requires_grad_(True)
        captured["x"] = out
        return out

    args = list(inputs)
    handles = []
    if isinstance(args[0], torch.Tensor) and args[0].is_floating_point():
        args[0] = captured["x"] = args[0].detach().clone().requires_grad_(True)
    else:
        handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Embedding)]
    torch.manual_seed(seed)
    try:
        y = first_float(model(*args))
    finally:
        for h in handles:
            h.remove()
    assert y is not None and "x" in captured, "no floating output or no input/embedding to measure from"
    u = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    (gx,) = torch.autograd.grad((y * u).sum(), captured["x"], allow_unused=True)
    back = 0.0 if gx is None else rms(gx)
    return rms(y) / rms(captured["x"]), back


def log10_error(predicted: float | None, measured: float) -> float:
    """|log10(pred/meas)|; inf when either is missing, zero or not finite."""
    if predicted is None or not (predicted > 0 and measured > 0) or not math.isfinite(predicted * measured):
        return math.inf
    return abs(math.log10(predicted) - math.log10(measured))


def only_model(report: dict[str, Any]) -> dict[str, Any]:
    """The one model of a JSON report, which must have been analysed."""
    (m,) = report["models"]
    assert m["status"] == "ok", m["error"]
    return m
