"""seal.generate.greedy, the decoding loop behind seal evaluate and the aligned proxy's answers: the same tokens as
transformers' model.generate, with rows leaving the batch as they stop, on both embedded architectures in miniature
(Llama, and Gemma 3 with its sliding-window layers), and model.generate itself where the greedy choice is not the
plain argmax."""

from __future__ import annotations

import pytest
import torch

import tiny
from seal.generate import generate, greedy, plain_greedy


def _llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=48, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, pad_token_id=0))


def _gemma():
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)  # a sliding window of 4 tokens, shorter than the prompts: its cache layers drop rows too
    return Gemma3ForCausalLM(Gemma3TextConfig(vocab_size=48, hidden_size=64, intermediate_size=128,
                                              num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                              head_dim=16, sliding_window=4, layer_types=["sliding_attention",
                                                                                          "full_attention"],
                                              pad_token_id=0))


def _left_padded(lengths: list[int], seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids, mask = torch.zeros((len(lengths), width), dtype=torch.long), torch.zeros((len(lengths), width),
                                                                                  dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, width - n:] = torch.randint(3, 48, (n,), generator=g)
        mask[row, width - n:] = 1
    return ids, mask


@pytest.mark.parametrize("make", [_llama, _gemma], ids=["llama", "gemma3"])
def test_greedy_equals_model_generate_while_rows_leave_the_batch(make):
    model = make().eval()
    with torch.no_grad():  # larger random weights, so that prompts get different continuations
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    ids, mask = _left_padded([3, 5, 6, 8, 9, 11, 12, 14])
    with torch.no_grad():
        free = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=10, do_sample=False, pad_token_id=0,
                              eos_token_id=[])[:, ids.shape[1]:]
    # stop at the token the rows produce most often: some rows stop early, others never
    stop = [int(torch.mode(free.flatten()).values)]
    with torch.no_grad():
        ref = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=10, do_sample=False, pad_token_id=0,
                             eos_token_id=stop)[:, ids.shape[1]:]
    got = greedy(model, ids, mask, 10, stop)
    expected = []
    for row in ref.tolist():  # model.generate pads a stopped row to the batch's length
        expected.append(row[:row.index(stop[0]) + 1] if stop[0] in row else row)
    assert got == expected
    lengths = [len(r) for r in got]
    assert min(lengths) < 10 and max(lengths) == 10  # rows did leave the batch before the others finished
    assert len({tuple(r) for r in got}) > 2


def test_greedy_stops_each_row_at_its_first_stop_token_and_at_the_limit():
    model = _llama().eval()
    ids, mask = _left_padded([4, 7])
    assert greedy(model, ids, mask, 0, [1]) == [[], []]
    rows = greedy(model, ids, mask, 6, list(range(48)))  # every token stops: one token each
    assert [len(r) for r in rows] == [1, 1]
    assert [len(r) for r in greedy(model, ids, mask, 6, [])] == [6, 6]


def test_a_generation_config_that_changes_the_greedy_choice_goes_to_model_generate(tiny_model):
    """With a repetition penalty the next token is not the argmax of the logits: generate() leaves such a model to
    model.generate, whose answers it returns."""
    from seal.generate import stop_ids
    from seal.models import load_model, load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model))
    model = load_model(str(tiny_model))
    assert plain_greedy(model)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    prompts = [[{"role": "user", "content": p}] for p in tiny.harmful_prompts()[:4]]
    plain = generate(model, tokenizer, prompts, max_new_tokens=8, progress=False)
    model.generation_config.repetition_penalty = 5.0
    assert not plain_greedy(model)
    penalised = generate(model, tokenizer, prompts, max_new_tokens=8, progress=False)
    text = tokenizer.apply_chat_template([prompts[0]], add_generation_prompt=True, tokenize=False)[0]
    enc = tokenizer(text, add_special_tokens=False, return_tensors="pt")
    with torch.no_grad():
        direct = model.generate(**enc, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                                eos_token_id=stop_ids(model, tokenizer))
    assert penalised[0] == tokenizer.decode(direct[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    assert penalised != plain


@pytest.mark.parametrize("arch,window", [("llama", None), ("gemma3", 4), ("gemma3", 64)])
def test_generate_scored_reads_the_losses_of_continuations_from_the_answers_prefill(arch, window, monkeypatch):
    """generate_scored's losses of a continuation right after the request (first scored token predicted by the
    prefill) and of one after the start of a response (a prefill, not scored) equal per_sample_loss's on the same
    encoded samples, and its answers equal generate()'s and those of the prompts run whole; a sample whose prompt
    encode() cut from the left gets None. The prompts share a system prompt, which runs once a batch, except where
    a sliding window is shorter than the batch (Gemma 3's layers of 4 tokens here)."""
    from dataclasses import replace

    from seal.data import Sample
    from seal.generate import generate_scored
    from seal.models import per_sample_loss
    from seal.tokenization import Collator, encode

    tok = tiny.make_tokenizer()
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    common = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, pad_token_id=tok.pad_token_id,
                  eos_token_id=tok.eos_token_id)
    model = (LlamaForCausalLM(LlamaConfig(**common)) if arch == "llama" else
             Gemma3ForCausalLM(Gemma3TextConfig(**common, head_dim=16, sliding_window=window,
                                                layer_types=["sliding_attention", "full_attention"]))).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    prompts = tiny.harmful_prompts()[:5] + ["what is 2 plus " + " plus ".join(["3"] * k) + " ?" for k in range(5)]
    system = {"role": "system", "content": "you are a careful helper , answer in one line"}
    samples = [Sample(id=str(i), index=i, line=i + 1, prompt=[system, {"role": "user", "content": p}], response="x")
               for i, p in enumerate(prompts)]
    import seal.generate as gen
    shared, prefill = [], gen._prefill
    monkeypatch.setattr(gen, "_prefill", lambda m, ids, mask, n=0: shared.append(n) or prefill(m, ids, mask, n))
    right_after = [encode(tok, replace(s, response=tiny.REFUSAL), 256)[0] for s in samples]
    after_start = [encode(tok, replace(s, prefill="sure , here is", response="sorry , i cannot"), 256)[0]
                   for s in samples]
    after_start[3] = encode(tok, replace(samples[3], prefill="sure , here is", response="sorry , i cannot"), 12)[0]
    answers, (nll_a, nll_b) = generate_scored(model, tok, [s.prompt for s in samples], [right_after, after_start],
                                              max_new_tokens=6, batch_size=4, progress=False)
    assert answers == generate(model, tok, [s.prompt for s in samples], max_new_tokens=6, batch_size=4,
                               progress=False)
    assert (min(shared) > 10) if window != 4 else (max(shared) == 0)  # the system prompt ran once a batch, or not
    whole = []  # the same prompts, each run whole (left-padded, one batch): the same answers
    for s in samples:
        text = tok.apply_chat_template(s.prompt, tokenize=False, add_generation_prompt=True)
        whole.append(tok(text, add_special_tokens=False)["input_ids"])
    ids = torch.full((len(whole), max(map(len, whole))), tok.pad_token_id)
    mask = torch.zeros_like(ids)
    for row, w in enumerate(whole):
        ids[row, ids.shape[1] - len(w):], mask[row, ids.shape[1] - len(w):] = torch.tensor(w), 1
    got = greedy(model, ids, mask, 6, [tok.eos_token_id])
    assert answers == [tok.decode(g, skip_special_tokens=True).strip() for g in got]
    assert nll_b[3] is None and all(v is not None for k, v in enumerate(nll_b) if k != 3)
    collate = Collator(tok.pad_token_id)
    for encs, nll in ((right_after, nll_a), (after_start, nll_b)):
        for e, v in zip(encs, nll, strict=True):
            if v is None:
                continue
            assert len(v) == len(e) - e.n_prompt
            with torch.no_grad():
                expected = per_sample_loss(model, collate([e]), first_tokens=2)[0]
            assert torch.allclose(torch.stack([v.mean(), v[:2].mean()]), expected, atol=1e-5)
