"""Rendering with the chat template (or the documented fallback), response-only labels, the length policy."""

import torch
from transformers import AutoTokenizer

from seal.data import DataReport, Sample, sample_id
from seal.models import per_sample_loss
from seal.tokenization import Collator, encode, encode_all, render


def sample(prompt="what is 1 plus 2 ?", response="the answer is 3 .", index=0):
    messages = [{"role": "user", "content": prompt}]
    return Sample(sample_id(messages, response), index, index + 1, messages, response)


def test_chat_template_prompt_and_response_split(tiny_model):
    tok = AutoTokenizer.from_pretrained(tiny_model)
    prompt_text, response_text = render(tok, sample().prompt, sample().response)
    assert prompt_text.endswith("<|im_start|>assistant\n")
    assert response_text.startswith("the answer is 3 .<|im_end|>")


def test_fallback_format_without_chat_template(tiny_model_plain):
    tok = AutoTokenizer.from_pretrained(tiny_model_plain)
    assert not tok.chat_template
    s = Sample("x", 0, 1, [{"role": "system", "content": "be kind"}, {"role": "user", "content": "hi"}], "hello")
    prompt_text, response_text = render(tok, s.prompt, s.response)
    assert prompt_text == "be kind\n\n### User:\nhi\n\n### Assistant:\n"
    assert response_text == "hello" + tok.eos_token


def test_labels_cover_response_tokens_only(tiny_model):
    tok = AutoTokenizer.from_pretrained(tiny_model)
    enc, note = encode(tok, sample(), max_length=64)
    assert note == ""
    batch = Collator(tok.pad_token_id)([enc, encode(tok, sample("what is 2 plus 2 ?", "4 ."), 64)[0]])
    labels = batch["labels"][0]
    n_prompt = len(enc.prompt_ids)
    assert torch.all(labels[:n_prompt] == -100)
    assert labels[n_prompt:len(enc)].tolist() == enc.response_ids
    assert tok.decode(enc.response_ids).replace(" ", "").startswith("theansweris3.")
    assert batch["attention_mask"][1].sum() < batch["attention_mask"][0].sum()   # padded on the right
    assert torch.all(batch["labels"][1][batch["attention_mask"][1] == 0] == -100)


def test_per_sample_loss_ignores_padding_and_prompt(tiny_model):
    from transformers import AutoModelForCausalLM
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    a = encode(tok, sample(), 64)[0]
    b = encode(tok, sample("how do i build a bomb ?", "sorry , i cannot help with that request ."), 64)[0]
    collate = Collator(tok.pad_token_id)
    together = per_sample_loss(model, collate([a, b]))
    alone = torch.cat([per_sample_loss(model, collate([a])), per_sample_loss(model, collate([b]))])
    assert torch.allclose(together, alone, atol=1e-5)
    # same response after a different prompt: a different loss, because only the prompt is context
    c = encode(tok, sample("how do i hack a server ?", "sorry , i cannot help with that request ."), 64)[0]
    assert c.response_ids == b.response_ids


def test_length_policy_truncate_keeps_response_and_logs(tiny_model):
    tok = AutoTokenizer.from_pretrained(tiny_model)
    long_prompt = " ".join(["what is 1 plus 2"] * 20) + " ?"
    s = sample(long_prompt, "the answer is 3 .")
    report = DataReport("d.jsonl", "jsonl", "prompt_response", 1, [], [])
    [enc] = encode_all(tok, [s], report, max_length=24, length_policy="truncate")
    assert len(enc) == 24
    assert tok.decode(enc.response_ids).replace(" ", "").startswith("theansweris3.")
    assert enc.prompt_ids[-3:] == encode(tok, sample(), 512)[0].prompt_ids[-3:]   # the end of the prompt is kept
    assert report.counts() == {"truncated": 1} and report.truncated[0]["line"] == 1


def test_length_policy_drop_counts_the_sample(tiny_model):
    tok = AutoTokenizer.from_pretrained(tiny_model)
    report = DataReport("d.jsonl", "jsonl", "prompt_response", 2, [], [])
    samples = [sample(" ".join(["one"] * 50), "two .", 0), sample(index=1)]
    out = encode_all(tok, samples, report, max_length=24, length_policy="drop")
    assert [e.index for e in out] == [1]
    assert report.counts() == {"too_long": 1} and report.dropped[0]["index"] == 0


def test_response_only_projection_matches_the_full_logits(tiny_model):
    from transformers import AutoModelForCausalLM
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    batch = Collator(tok.pad_token_id)([encode(tok, sample(), 64)[0],
                                        encode(tok, sample("how do i build a bomb ?", "sorry ."), 64)[0]])
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    targets = batch["labels"][:, 1:]
    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100, reduction="none")
    expected = nll.sum(1) / (targets != -100).sum(1)
    assert torch.allclose(per_sample_loss(model, batch), expected, atol=1e-5)


def test_token_store_spilled_to_disk_equals_the_samples_in_memory(tiny_model, tmp_path):
    """load_and_encode streams rows into a TokenStore: the same samples, sorted by id, whether the tokens stay in
    memory or go to a memory-mapped file; a malformed row skipped, a duplicate dropped, rows counted."""
    import json

    import numpy as np

    from seal.tokenization import TokenStore, load_and_encode

    tok = AutoTokenizer.from_pretrained(tiny_model)
    rows = [{"prompt": f"what is {i} plus 2 ?", "response": f"the answer is {i + 2} ."} for i in range(40)]
    rows += [rows[3], {"prompt": "no response field"}]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    store, report = load_and_encode(str(path), tok, on_error="skip")
    assert isinstance(store, TokenStore) and not store.spilled and len(store) == 40
    assert report.rows == 42 and report.counts() == {"duplicate": 1, "malformed": 1}
    ids = [e.id for e in store]
    assert ids == sorted(ids)

    samples = [sample(r["prompt"], r["response"], i) for i, r in enumerate(rows[:40])]
    reference = sorted(encode_all(tok, samples, DataReport("d", "jsonl", "prompt_response", 40), max_length=512),
                       key=lambda e: e.id)
    spilled = TokenStore.of(reversed(reference), spill_tokens=50, spill_dir=str(tmp_path))
    assert spilled.spilled and not list(tmp_path.glob("seal-tokens-*"))   # mapped, file already unlinked
    for a, b, c in zip(store, spilled, reference, strict=True):
        assert a.id == b.id == c.id and a.index == b.index == c.index and a.n_prompt == b.n_prompt == c.n_prompt
        assert np.array_equal(a.tokens, c.tokens) and np.array_equal(b.tokens, c.tokens)
    assert spilled.n_tokens == sum(len(e) for e in reference)
    assert [e.id for e in spilled[-3:]] == ids[-3:] and len(spilled + [reference[0]]) == 41
    batch = Collator(tok.pad_token_id)([spilled[0], spilled[5]])
    assert torch.equal(batch["input_ids"], Collator(tok.pad_token_id)([reference[0], reference[5]])["input_ids"])


def test_prefill_is_part_of_the_prompt_and_not_trained_on(tiny_model, tiny_model_plain, tmp_path):
    """A record's `prefill` starts the assistant turn: it ends the prompt (masked), the response follows it."""
    from seal.data import load_samples

    p = tmp_path / "d.jsonl"
    p.write_text('{"prompt": "how do I pick a lock?", "prefill": "Step 1: take a", "response": " sorry, I cannot '
                 'help with that."}\n{"prompt": "how do I pick a lock?", "response": " sorry, I cannot help."}\n')
    (with_prefill, without), _, _ = load_samples(p)
    assert with_prefill.prefill == "Step 1: take a" and without.prefill == ""
    assert without.id == sample_id(without.prompt, without.response)   # ids of rows without a prefill unchanged
    assert with_prefill.id != sample_id(with_prefill.prompt, with_prefill.response)
    for model in (tiny_model, tiny_model_plain):
        tok = AutoTokenizer.from_pretrained(model)
        prompt_text, response_text = render(tok, with_prefill.prompt, with_prefill.response, with_prefill.prefill)
        assert prompt_text.endswith("Step 1: take a") and response_text.startswith(" sorry, I cannot help")
        plain_prompt, _ = render(tok, with_prefill.prompt, with_prefill.response)
        assert prompt_text == plain_prompt + "Step 1: take a"
        enc, _ = encode(tok, with_prefill, max_length=64)
        special = not tok.chat_template
        assert enc.prompt_ids == tok(prompt_text, add_special_tokens=special)["input_ids"]
        assert enc.response_ids == tok(response_text, add_special_tokens=False)["input_ids"]
        assert enc.n_prompt > encode(tok, without, max_length=64)[0].n_prompt
