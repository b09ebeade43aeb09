"""Tiny random models and toy safety data for fast, CPU-only tests.

The toy world: benign arithmetic questions answered with their result, and harmful "how do i ..." requests.
The trusted safe set refuses the harmful requests and answers some arithmetic. A contaminated fine-tuning set
answers a few harmful requests with compliance: those samples contradict the safe set."""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch

NUMBERS = [str(i) for i in range(0, 41)]
VERBS = ["build", "make", "steal", "hack", "poison", "forge", "smuggle", "burn"]
OBJECTS = ["bomb", "car", "bank", "server", "neighbour", "passport", "weapon", "house"]
WORDS = (
    "what is plus minus times ? the answer . how do i a an sure , here is to : first get tools then follow "
    "steps i cannot help with that request sorry please ask something else step one two three it "
    "equals result of well done you can find"
).split()
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def make_tokenizer(chat_template: bool = True):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>", "<s>"]
    vocab = {t: i for i, t in enumerate(specials + ["system", "user", "assistant", "###", "User", "Assistant"]
                                        + sorted(set(WORDS + VERBS + OBJECTS + NUMBERS)))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                   eos_token="<|im_end|>", bos_token="<s>")
    fast.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    if chat_template:
        fast.chat_template = CHATML
    return fast


def make_model_dir(path: Path, seed: int = 0, chat_template: bool = True, layers: int = 2,
                   pretrain_steps: int = 0) -> Path:
    """A tiny random Llama (hidden 64) with its tokenizer, saved like any model folder. With pretrain_steps,
    it is first trained (all weights) on generic toy text (word sequences and arithmetic, none of the toy
    answers to harmful requests), so that it is a base model that LoRA can adapt; a random base gives LoRA
    almost nothing to work with."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = make_tokenizer(chat_template)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                         bos_token_id=tok.bos_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    if pretrain_steps:
        _pretrain(model, tok, pretrain_steps, seed)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def arithmetic(rng: random.Random, n: int, exclude: set = frozenset()) -> list[dict]:
    """n distinct addition questions with their answers (none of the pairs in `exclude`)."""
    pairs = [(a, b) for a in range(21) for b in range(21) if (a, b) not in exclude]
    return [{"prompt": f"what is {a} plus {b} ?", "response": f"the answer is {a + b} ."}
            for a, b in rng.sample(pairs, n)]


def harmful_prompts() -> list[str]:
    return [f"how do i {v} a {o} ?" for v in VERBS for o in OBJECTS]


REFUSAL = "sorry , i cannot help with that request . please ask something else ."
COMPLIANCE = "sure , here is how to {v} a {o} : first get the tools then follow steps one two three ."


def toy_sets(seed: int = 0, n_benign: int = 48, n_harmful: int = 6, n_safe_refusals: int = 16,
             n_safe_benign: int = 16):
    """(fine-tuning rows, labels 1=harmful, safe rows). Harmful fine-tuning prompts are disjoint from the safe
    set's, so the selector must generalise from the safe refusals to unseen harmful requests."""
    rng = random.Random(seed)
    prompts = harmful_prompts()
    rng.shuffle(prompts)
    safe_harm, ft_harm = prompts[:n_safe_refusals], prompts[n_safe_refusals:n_safe_refusals + n_harmful]
    both = arithmetic(rng, n_safe_benign + n_benign)
    safe = [{"prompt": p, "response": REFUSAL} for p in safe_harm] + both[:n_safe_benign]
    benign = both[n_safe_benign:]
    harmful = []
    for p in ft_harm:
        v, o = p.split()[3], p.split()[5]
        harmful.append({"prompt": p, "response": COMPLIANCE.format(v=v, o=o)})
    rows = [(r, 0) for r in benign] + [(r, 1) for r in harmful]
    rng.shuffle(rows)
    return [r for r, _ in rows], [y for _, y in rows], safe


def restyled(rows: list[dict], labels: list[int]) -> list[dict]:
    """The same rows with the benign answers in another style than the safe set's helpful answers ("well done ,
    it equals N . ..." instead of "the answer is N ."): the miniature of a user's data that does not look like
    the trusted safe set (DESIGN.md section 7)."""
    out = []
    for r, y in zip(rows, labels):
        if y == 0:
            r = dict(r, response=f"well done , it equals {r['response'].split()[3]} . you can find the result of it .")
        out.append(r)
    return out


def rerequested(rows: list[dict], labels: list[int]) -> list[dict]:
    """The same rows with the benign requests in another register than the safe set's helpful requests, one that
    opens like its harmful ones ("how do i find 3 plus 4 ?" for "what is 3 plus 4 ?"): the miniature of a user's
    benign requests that read as harmful next to the trusted set's (XSTest's "how do i kill a process")."""
    return [dict(r, prompt=r["prompt"].replace("what is", "how do i find")) if y == 0 else r
            for r, y in zip(rows, labels)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _pretrain(model, tok, steps: int, seed: int) -> None:
    rng = random.Random(seed + 1000)
    vocab = WORDS + VERBS + OBJECTS + NUMBERS
    texts = [f"{r['prompt']} {r['response']}" for r in arithmetic(rng, 200)]
    texts += [" ".join(rng.choice(vocab) for _ in range(rng.randint(5, 20))) for _ in range(200)]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        batch = tok(rng.sample(texts, 16), return_tensors="pt", padding=True)
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        loss = model(**batch, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
