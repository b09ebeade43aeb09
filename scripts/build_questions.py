"""Build builtin:benign-questions: everyday benign questions answered by the embedded SmolLM2 itself.

    python scripts/build_questions.py [--out src/seal/resources/builtin/benign-questions.jsonl]

Why: `seal align` trained only on imperative Self-Instruct tasks learns that a short question is a cue to refuse
("How do I best hang a picture?" -> "I can't help with that"). These rows are short questions in the forms users
ask (how do I, what is the best way, why, can you explain), about everyday chores, hobbies, science, and a share
that use violent or alarming words in an ordinary sense (killing weeds, shooting photos, a bomb of a film).
The prompts are written for seal-llm from the word lists below (not taken from any benchmark; a check drops any
prompt whose normalised text equals an evaluation prompt). The answers are the base model's own greedy answers
(self-distillation): they are cheap for the model to keep, so the alignment LoRA spends its capacity on the
refusals and leaves ordinary helpfulness where it was. Answers that themselves refuse are dropped.
Seeded and greedy: a rerun on the same torch build gives the same file."""

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

EVERYDAY = """
bake a loaf of bread|boil an egg so the yolk stays soft|make a cup of green tea|cook rice without it sticking|
hang a shelf on a plaster wall|fix a dripping tap|unclog a kitchen sink|clean a cast iron pan|
remove a red wine stain from a carpet|fold a fitted sheet|iron a dress shirt|sew a button back on|
change a flat bicycle tyre|jump start a car battery|check the oil level in my car|learn to juggle three balls|
start running as a beginner|stretch after a long walk|fall asleep faster|drink more water during the day|
keep basil alive on a windowsill|repot a houseplant|grow tomatoes on a balcony|compost kitchen scraps|
train a puppy to sit|trim a cat's claws|clean a fish tank|teach a parrot to talk|
write a polite complaint email|prepare for a job interview|ask my manager for a day off|
make a monthly budget|save money on groceries|open a savings account|
learn the basics of chess|solve a Rubik's cube|start a stamp collection|tune a guitar|
practise piano scales|draw a realistic eye|take care of leather boots|pack a suitcase efficiently|
plan a weekend trip to the mountains|read a bus timetable|memorise a short poem|improve my handwriting|
write a thank-you card|organise a small bookshelf|choose a ripe avocado|store fresh herbs|
make pancakes without eggs|decorate a birthday cake|set up a new printer|back up photos from my phone|
speed up an old laptop|make a strong password I can remember|learn basic Spanish phrases|
calm down before a presentation|make friends in a new city|start a vegetable garden
""".replace("\n", "").split("|")

# Ordinary questions that use a violent or alarming word in a harmless sense (written for seal-llm).
ALARMING = """
kill the weeds between my patio stones|kill a frozen program on my laptop|shoot better photos at night|
shoot a free throw in basketball|blow up a balloon quickly|blow up a photo without losing quality|
attack the king side in chess|beat the heat in summer|beat eggs until they form stiff peaks|
crush garlic without a press|smash a serve in badminton|destroy old hard drives before recycling them|
get rid of fruit flies in the kitchen|knock down a wall in my garden shed safely|
cut a mango into cubes|chop onions without crying|carve a pumpkin for a festival|
strike a match safely|fire a clay pot in a kiln|set off on a long hike safely|
burn a CD with music files|burn fat with a walking routine|hijack the conversation back to my topic at a meeting|
steal the show at a school talent contest|rob the opponent of tempo in chess|
take down a tent after camping|take out the trash without attracting foxes|
bury a time capsule in the garden|execute a Python script from the terminal|
poison ivy: treat a rash after touching it|trap a mouse humanely and release it|
hunt for vintage furniture at flea markets|bomb a wave when bodysurfing|
slaughter my to-do list in a single afternoon|terminate a background process on Linux|
hack together a quick birdhouse from scrap wood|crack a coconut open|crack my knuckles less often|
break into the music industry as a songwriter|break in new hiking boots|
pick a lock on my own diary after losing the key|spy on birds in my garden with a camera feeder|track my daily steps|
stalk celery so it grows straight|drug test my well water for bacteria|overdose on sunshine: avoid sunburn on holiday|
explode a diagram in a design app|assault course: train for an obstacle race
""".replace("\n", "").split("|")

SCIENCE = """
is the sky blue|do leaves change colour in autumn|does bread rise|does ice float on water|do we have seasons|
do cats purr|does the moon have phases|do onions make people cry|does soap remove grease|do rainbows form|
does thunder follow lightning|do planes stay in the air|does metal feel colder than wood|do bees make honey|
is the sea salty|do we yawn|are bubbles round|do stars twinkle|does popcorn pop|do hot air balloons rise
""".replace("\n", "").split("|")

HOWTO = ["How do I {t}?", "What's the best way to {t}?", "Can you explain how to {t}?", "How can I {t}?",
         "Give me a few tips to {t}.", "What should I know before I {t}?"]
WHY = ["Why {t}?", "Quick science question: why {t}?", "I have always wondered: why {t}?"]


def prompts() -> list[tuple[str, str]]:
    rng = random.Random(0)
    out = []
    for t in EVERYDAY:
        for tpl in rng.sample(HOWTO, 3):
            out.append((tpl.format(t=t.strip()), "everyday"))
    for t in ALARMING:
        t = t.strip()
        if ":" in t:  # "topic: request" reads as a question about the topic
            topic, req = t.split(":", 1)
            out.append((f"{topic.strip().capitalize()}: how do I {req.strip()}?", "alarming-word"))
            continue
        for tpl in rng.sample(HOWTO, 3):
            out.append((tpl.format(t=t), "alarming-word"))
    for t in SCIENCE:
        for tpl in rng.sample(WHY, 2):
            out.append((tpl.format(t=t.strip()), "science"))
    return list(dict.fromkeys(out))


def eval_keys() -> set[str]:
    """Normalised texts of every evaluation prompt (builtin:eval-*), which no training row may equal."""
    from seal.builtin import builtin_path, text_key
    from seal.data import load_prompts
    keys = set()
    for name in ("eval-benign", "eval-harmful", "eval-pasttense"):
        keys |= {text_key(p["prompt"]) for p in load_prompts(builtin_path(name))}
    return keys


def self_distil(rows: list[tuple[str, str]], max_new_tokens: int) -> tuple[list[dict], int]:
    """(prompt, category) pairs answered greedily by the embedded SmolLM2; answers the evaluation's own refusal
    judge calls refusals (an empty answer counts as one) are dropped. Returns (rows, number dropped)."""
    from seal.generate import generate
    from seal.judges import KeywordJudge
    from seal.models import load_model, load_tokenizer
    model, tok = load_model("smollm2"), load_tokenizer("smollm2")
    answers = generate(model, tok, [[{"role": "user", "content": p}] for p, _ in rows],
                       max_new_tokens=max_new_tokens, batch_size=16)
    judge = KeywordJudge("seal-v1")
    out, dropped = [], 0
    for (p, c), a in zip(rows, answers):
        if judge.is_refusal(a):
            dropped += 1
            continue
        out.append({"prompt": p, "response": a, "source": "seal-llm/self-distilled", "category": c})
    return out, dropped


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="src/seal/resources/builtin/benign-questions.jsonl")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    args = ap.parse_args()

    from seal.builtin import text_key

    evals = eval_keys()
    out, dropped = self_distil([(p, c) for p, c in prompts() if text_key(p) not in evals], args.max_new_tokens)
    with open(args.out, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in out)
    print(f"{args.out}: {len(out)} rows ({dropped} answers dropped as refusals or empty)")


if __name__ == "__main__":
    main()
