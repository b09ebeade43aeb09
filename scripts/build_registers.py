"""Build align-registers.jsonl: benign requests whose CONTENT is violent, criminal or dangerous, in registers other
than a question to an assistant (fiction, reviews, editing and text tasks, essays, checklists), answered, for
`seal align`'s default data:

    python scripts/build_registers.py [--out src/seal/resources/builtin/align-registers.jsonl]

Why: aligned on builtin:align alone, SmolLM2 refused every request to write a sentence of a film review that
mentions a killing, and a quarter of long Alpaca-style requests on health, law and security
(docs/selection-quality.md, "Every static signal with the default adapter"). Its refusal of a request is then no
signal of the request's harm. align-topical covers news, advice and explanations about harm; this file covers
the other registers in which ordinary data mentions harm: a story or a review in which someone is killed, a
sentence about a shooting to translate or summarise, an essay on the causes of a war. Nothing here asks how to
do harm. Prompts are written for seal-llm from the lists below (titles, plots and sentences invented; none equals
an evaluation prompt: checked here); answers are the embedded SmolLM2-135M-Instruct's own (greedy, before
alignment; answers the keyword judge calls refusals are dropped). Seeded: a rerun on the same torch build gives
the same file."""

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_borderline import answer_and_write  # noqa: E402

# Fiction: scenes of crime, war and danger, told as stories.
SCENES = [
    "a detective finds the murder weapon hidden in a piano", "a soldier writes a last letter home before a battle",
    "a bank robber realises the getaway driver has left", "a village hides from bombers during an air raid",
    "a poisoner is unmasked at a dinner party", "a sniper waits on a rooftop and decides not to shoot",
    "a hostage negotiator talks a kidnapper into giving up", "a knight is wounded in a sword fight",
    "a pirate crew attacks a merchant ship", "a spy escapes across a border at night",
    "a girl discovers that her uncle is a smuggler", "two gangs meet for a fight that never happens",
    "a ghost haunts the house where a murder took place", "a fire breaks out in a crowded theatre",
    "a journalist is threatened for exposing corruption", "a prisoner plans an escape through a tunnel",
]
FICTION_FORMS = ["Write a short scene for a novel in which {s}.", "Write the opening paragraph of a thriller in "
                 "which {s}.", "Write a short poem about a story in which {s}.",
                 "Tell a short story for adults in which {s}."]

# Reviews of invented books, films and games whose subject is violent.
WORKS = [
    ("The Quiet Knife", "crime novel", "a serial killer who leaves notes for the police"),
    ("Iron Rain", "war film", "a platoon trapped behind enemy lines"),
    ("Dead Signal", "horror film", "a killer who stalks campers through the woods"),
    ("Street Kings of Nowhere", "gangster film", "a drug cartel fighting for control of a city"),
    ("Last Shot", "western", "a gunfight between a sheriff and an outlaw"),
    ("Zero Hour", "video game", "players defending a base against zombies with shotguns"),
    ("The Poison Garden", "mystery novel", "a gardener who murders her rivals with plants"),
    ("Red Harbour", "thriller", "terrorists who plant a bomb on a ferry"),
    ("Blood Moon Heist", "heist film", "a gang robbing a casino during a blackout"),
    ("No Man's Trench", "war novel", "a soldier's years in the trenches of the First World War"),
    ("Hollow Point", "police drama", "a detective hunting a gang of armed robbers"),
    ("Silent Scream", "slasher film", "a masked murderer at a summer camp"),
    ("The Assassin's Debt", "action film", "a hitman who wants to retire"),
    ("Black Ledger", "crime series", "a lawyer laundering money for the mafia"),
    ("Ash and Bone", "fantasy novel", "a war between two kingdoms and its massacres"),
    ("Kill Switch", "video game", "a hacker who fights a corrupt corporation"),
]
REVIEW_FORMS = ["Write a short positive review of {t}, a {g} about {p}.",
                "Write a short negative review of {t}, a {g} about {p}.",
                "Write two sentences reviewing {t}, a {g} about {p}.",
                "Rate {t}, a {g} about {p}, out of five stars and explain why.",
                "Write a one-paragraph summary of the plot of {t}, a {g} about {p}."]

# Sentences about violence and crime, for ordinary text tasks.
SENTENCES = [
    "The police arrested two men after a shooting outside the stadium on Saturday night.",
    "Rebels attacked the convoy at dawn, killing three soldiers and wounding ten.",
    "The jury found the defendant guilty of murdering his business partner.",
    "A teenager was stabbed during a fight at the bus station and taken to hospital.",
    "Hackers stole the personal data of forty thousand patients from the clinic.",
    "The bomb squad defused an explosive device found near the town hall.",
    "Customs officers seized two tonnes of cocaine hidden in banana crates.",
    "The gang threatened shopkeepers who refused to pay for protection.",
    "Survivors described how the gunman opened fire in the crowded square.",
    "The dictator's troops burned villages and executed prisoners during the war.",
    "An overdose of painkillers killed the singer, the coroner said.",
    "The kidnappers released the journalist after six weeks in captivity.",
    "Arsonists set fire to three cars in the car park overnight.",
    "The fraudster tricked elderly victims into handing over their savings.",
    "Terrorists claimed responsibility for the attack on the embassy.",
    "The soldier was awarded a medal for carrying wounded comrades out of the minefield.",
]
TEXT_TASKS = ["Summarise this sentence in a few words: {x}", "Translate into French: {x}",
              "Rewrite this sentence in the passive voice: {x}", "What is the sentiment of this sentence? {x}",
              "List the people and places mentioned in this sentence: {x}", "Write a headline for this news: {x}",
              "Rewrite this sentence for a children's newspaper: {x}", "Correct any mistakes in this sentence: {x}"]

# Essays and discussion about harm in society and history.
ESSAYS = [
    "the causes of gun violence in cities", "why people commit crimes", "the effects of war on children",
    "the history of the atomic bomb", "the arguments for and against the death penalty",
    "how drug addiction affects families", "why terrorism rarely achieves its aims",
    "the causes of the Second World War", "the ethics of self-defence", "how cybercrime changed banking",
    "the human cost of landmines", "whether violent video games make people violent",
    "how genocide happened in Rwanda and what the world learned", "the rise and fall of organised crime in Chicago",
    "why suicide rates differ between countries and how they can be lowered", "the legalisation of cannabis",
    "the use of torture in history and why it is banned", "how the police should respond to knife crime",
]
ESSAY_FORMS = ["Write a short essay on {x}.", "Write a paragraph about {x}.", "Give three points on {x}.",
               "Discuss {x} in a few sentences."]

# Lists and checklists whose subject is a danger; the aim is safety.
CHECKLISTS = [
    "Make a checklist for keeping a firearm safely at home.", "List five signs that a child is being bullied.",
    "Give me three tips to avoid being scammed on the phone.", "Create a plan for what a school does in a lockdown.",
    "List the first aid steps for a deep cut.", "Write a safety briefing for hunters before a hunting trip.",
    "List what to pack in an emergency kit for a hurricane.", "Give five rules for handling chemicals in a lab.",
    "Write a short guide for reporting cyberbullying.", "List the symptoms of alcohol poisoning.",
    "Write instructions for a fire drill in an office.", "Give tips for walking home safely at night.",
    "List ways to protect a small business from fraud.", "Write a short guide on recognising a stroke.",
    "Explain how to store kitchen knives safely with young children at home.",
    "Write advice for a friend who is afraid of a violent ex-partner.",
    "List the legal steps to take after a car accident.", "Give tips to protect a laptop from ransomware.",
    "Write a paragraph telling teenagers about the risks of taking drugs at parties.",
    "List the warning signs that someone is thinking about suicide and where they can get help.",
]


def prompts(rng: random.Random) -> list[tuple[str, str]]:
    """(prompt, kind) pairs."""
    out = [(f.format(s=s), "fiction") for s in SCENES for f in rng.sample(FICTION_FORMS, 2)]
    out += [(f.format(t=t, g=g, p=p), "review") for t, g, p in WORKS for f in rng.sample(REVIEW_FORMS, 3)]
    out += [(f.format(x=x), "text-task") for x in SENTENCES for f in rng.sample(TEXT_TASKS, 3)]
    out += [(f.format(x=x), "essay") for x in ESSAYS for f in rng.sample(ESSAY_FORMS, 2)]
    out += [(c, "checklist") for c in CHECKLISTS]
    return list(dict.fromkeys(out))


def main() -> None:
    answer_and_write("src/seal/resources/builtin/align-registers.jsonl", prompts, "registers", continued=False)


if __name__ == "__main__":
    main()
