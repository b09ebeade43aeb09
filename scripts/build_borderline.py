"""Build align-borderline.jsonl: benign requests that look like harmful ones, answered, for deep alignment:

    python scripts/build_borderline.py [--out src/seal/resources/builtin/align-borderline.jsonl]

Why: after `seal align` with builtin:align-deep the model still refused about a fifth of XSTest's safe prompts
(docs/testbed-deep2.md): figurative uses of violent verbs ("smash my exam"), violence inside games, films and
stage productions, absurd questions about groups, definitions of alarming words, history of atrocities, public
facts about public people and made-up details of fictional ones; and it broke off some benign answers halfway
with a refusal, a side effect of the recovery rows. This file adds benign requests of those kinds, written for
seal-llm from the word lists below (none equals an evaluation prompt: checked here and in tests/test_builtin.py),
each answered and also split into a prefill and the rest of the answer (as align-continue), so that whether to
refuse depends on the request, at the start and after an answer has begun.

Answers are the embedded SmolLM2-135M-Instruct's own (self-distilled, greedy, before alignment; answers that
keyword:seal-v1 calls refusals are dropped). For questions about a fictional character's private records the
answer starts with a written sentence saying the character is fictional, followed by the model's answer to
"Who is CHARACTER?". The kinds follow XSTest's taxonomy of safe prompts (Roettger et al. 2024); the prompts are
our own. Seeded: a rerun on the same torch build gives the same file."""

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_builtin import write_jsonl  # noqa: E402

HOW = ["How do I {t}?", "What's the best way to {t}?", "Can you explain how to {t}?", "How can I {t}?",
       "Any tips on how to {t}?", "What's a good way to {t}?"]

# Words with a violent or criminal sense, used in their everyday sense.
HOMONYMS = [
    "terminate a frozen background process on Linux", "execute a SQL query from a Python script",
    "shoot a time-lapse video of a sunset", "kill the lights in my smart home at bedtime",
    "hack together a quick prototype at a hackathon", "crack an egg without getting shell in the bowl",
    "strike a match safely", "fire an employee respectfully", "cut ties with a toxic friend kindly",
    "beat egg whites until they form stiff peaks", "spike a volleyball over the net",
    "break into the film industry as a beginner", "take down a camping tent quickly",
    "butcher a whole chicken into eight pieces", "choke up on a baseball bat for more control",
    "wipe an old hard drive before I sell my computer", "shoot a free throw more accurately",
    "crush garlic without a garlic press", "poach an egg", "smoke salmon at home",
    "pull the trigger on buying my first house", "attack the net in a doubles tennis match",
    "steal a base in baseball", "eliminate background noise from a podcast recording",
    "cut the cord with cable TV", "lay off staff legally when a business is shrinking",
    "shut down a failing branch office fairly", "cut costs at my small restaurant", "kill time at an airport",
    "blow off steam after a stressful week", "hit the books before my finals", "run over my lines before a play",
    "bleed the radiators in my flat", "gut and renovate an old kitchen", "bust a myth in my science class",
    "drill a hole in a tiled wall", "hammer out a deal with a supplier", "capture a screenshot on a Mac",
    "inject some humour into a wedding toast", "target a younger audience with my bakery's marketing",
    "exploit a weakness in my opponent's chess opening", "trap heat in my greenhouse over winter",
    "kill a process that is using too much memory on Windows", "shoot portraits in low light",
    "take a shot at the goal from a corner in football", "nuke leftovers in the microwave evenly",
    "dispose of an old mattress", "burn a CD of my favourite songs", "torch the sugar on a crème brûlée",
    "smuggle vegetables into my kids' meals",
]

# Violent verbs as figures of speech.
FIGURATIVE = [
    "knock them dead at my audition", "bring down the house at an open mic night",
    "blow the competition out of the water at a science fair", "kill two birds with one stone this week",
    "set the world on fire with my startup", "hit it out of the park in my presentation",
    "take the town by storm with my new bakery", "wipe the floor with my rivals in a debate",
    "crush it at a hackathon", "go in for the kill in a salary negotiation", "steal the audience's hearts",
    "shoot down a bad idea politely in a meeting", "murder my to-do list today",
    "slaughter the other teams at pub quiz night", "make my kids scream with laughter",
    "make my grandma cry tears of joy on her birthday", "smash my goals for this year",
    "destroy my procrastination habit", "nail the landing in my gymnastics routine",
    "explode my follower count on social media", "knock my job interview out of the park",
    "blow my teacher away with my project", "bomb-proof my presentation against tough questions",
    "kill it on my first day at a new job", "steal some time for myself as a busy parent",
    "attack my revision for the exams", "punch above my weight in my first marathon",
    "butcher less of the French language on my holiday", "beat the heat in a city summer",
    "break the ice at a networking event", "tear through a long reading list",
    "conquer my fear of public speaking", "hijack the conversation back to my point politely",
    "shoot my shot with someone I like", "make my rivals eat my dust at sports day",
    "bury the hatchet with my brother", "fire up my team before a big match",
    "blow up on YouTube as a cooking channel", "slay my next dance battle", "ambush my friend with a surprise party",
]

# Things (not people) that may be killed, cut, burnt or destroyed.
SAFE_TARGETS = [
    "get rid of fruit flies in my kitchen", "kill the moss growing on my roof", "destroy an old hard drive",
    "exterminate cockroaches in my flat", "eliminate rust from my bike chain", "shred old tax documents",
    "chop down a dead tree in my garden", "blast limescale off my kettle", "saw through a metal pipe",
    "cut a watermelon into cubes", "smash an old concrete path for a new patio", "burn off calories quickly",
    "drown out traffic noise at night", "break down cardboard boxes for recycling",
    "set off fireworks legally on New Year's Eve", "fire a clay pot in a kiln", "kill germs on a chopping board",
    "poison slugs without hurting my cat", "wipe out weeds between paving stones", "strip old paint off a door",
    "demolish a garden shed", "stab holes in a potato before baking it", "slash my monthly spending",
    "murder the dandelions on my lawn", "massacre the mosquitoes in my tent", "gut a pumpkin for Halloween",
    "crush empty cans for recycling", "explode popcorn kernels in a pan", "suffocate a fire in a frying pan",
    "shoot clay targets at a shooting range", "eradicate mould from bathroom grout",
    "strangle bindweed before it takes over", "torch weeds with a gas burner", "kill a wasp nest in my attic",
]

# Violence and crime inside games, sport, films, books and stage productions.
GAME_ACTS = [
    ("sneak past the guards", "Metal Gear Solid"), ("win a sword fight", "Elden Ring"),
    ("raid a castle", "Age of Empires"), ("build a nuclear weapon", "Civilization VI"),
    ("poison a rival king", "Crusader Kings III"), ("survive a zombie horde", "Left 4 Dead"),
    ("wipe out an enemy army", "Total War: Rome"), ("take over the world", "Risk"),
    ("kill the werewolves", "the party game Werewolf"), ("betray my allies", "Diplomacy"),
    ("assassinate a noble", "Dishonored"), ("snipe enemies from far away", "Call of Duty"),
    ("rob a train", "Red Dead Redemption 2"), ("burn down a village", "Mount & Blade"),
    ("hijack a plane", "Just Cause 3"), ("blow up the reactor", "Fallout 4"),
    ("murder the detective", "a murder mystery board game"), ("kidnap a merchant", "Kenshi"),
]
GAME_FORMS = ["How do I {a} in {g}?", "What's the best strategy to {a} in {g}?", "Any tips to {a} in {g}?",
              "What's the fastest way to {a} in {g}?"]
PRODUCTION = [
    "stage a realistic sword fight in a school play", "make fake blood for a horror film",
    "film a car chase scene safely", "create a fake explosion effect for a stage show",
    "write a villain's monologue that threatens the hero", "choreograph a stage slap that doesn't hurt",
    "make a prop knife look real for a short film", "plan a murder mystery dinner party",
    "write a convincing bank robbery scene for my novel", "describe a battle scene in my fantasy story",
    "design a haunted house attraction that scares visitors", "make a zombie costume with fake wounds",
    "film a realistic fist fight with stunt actors", "write a crime podcast episode about a famous heist",
    "write the poisoning scene in my detective novel", "stage a duel scene for Romeo and Juliet",
]
STORY_QS = [
    "How does the murderer in And Then There Were None kill the guests?",
    "How does Sauron try to conquer Middle-earth?",
    "How does Iago manipulate Othello?", "How does Professor Moriarty plan his crimes?",
    "How does Tom Ripley get away with murder?", "Why does Captain Nemo attack ships?",
    "How does the Grinch steal Christmas?", "How did Scar kill Mufasa in The Lion King?",
    "How does the Wicked Witch try to capture Dorothy?", "How was the Death Star destroyed in Star Wars?",
    "How does Lady Macbeth convince Macbeth to kill the king?", "Why does Frankenstein's monster kill people?",
    "How does the gang in Money Heist rob the Royal Mint?", "How does Dracula choose his victims?",
    "How does Light Yagami kill people in Death Note?", "How does Count Olaf try to steal the Baudelaire fortune?",
    "How does Gollum try to get the ring back?", "How do the Joker's henchmen rob the bank in The Dark Knight?",
    "Why did Brutus stab Julius Caesar in Shakespeare's play?", "How does Amy Dunne frame her husband in Gone Girl?",
]
SPORT = [
    "throw a knockout punch in boxing training", "tackle safely in rugby", "apply a legal chokehold in judo",
    "win a fencing bout", "land a kick in taekwondo sparring", "take down an opponent in wrestling",
    "shoot arrows more accurately in archery", "hit harder in a kickboxing class",
]

DEFINED = [
    "euthanasia", "an overdose", "terrorism", "a massacre", "a firearm", "kidnapping", "blackmail", "bribery",
    "vandalism", "a cult", "racism", "hate speech", "a sniper", "napalm", "anthrax", "cocaine",
    "an eating disorder", "addiction", "stalking", "a war crime", "torture", "slavery", "poisoning",
    "fentanyl", "the dark web", "a computer virus", "a bomb", "assault", "fraud", "grooming", "a coup",
    "piracy", "a hostage situation", "espionage", "a school shooting", "radicalisation", "lynching",
    "ethnic cleansing", "a drive-by shooting", "revenge porn",
]
DEFINE_FORMS = ["What is {x}?", "What does {x} mean?", "Can you define {x}?", "What is meant by {x}?",
                "Explain what {x} is."]

# Real groups with absurd "why can't" questions, and absurd groups with discriminatory-sounding questions.
GROUPS = ["immigrants", "women", "men", "old people", "teenagers", "poor people", "single mothers", "Muslims",
          "Christians", "Jewish people", "atheists", "gay people", "trans people", "Asian people", "Black people",
          "white people", "Mexicans", "disabled people", "overweight people", "refugees", "Roma people", "Hindus",
          "Buddhists", "short people", "people with tattoos", "vegans"]
ABSURD_ABILITIES = ["breathe in space without a suit", "photosynthesise like plants", "run faster than a cheetah",
                    "live on the surface of the sun", "grow gills", "teleport to work", "hold their breath for an hour",
                    "read other people's minds", "talk to dolphins", "lift a bus with one hand",
                    "turn into birds", "live for 300 years", "stop time", "shoot lasers from their eyes",
                    "survive without sleep", "walk through walls"]
ABSURD_FORMS = ["Why can't {g} {a}?", "Why are {g} unable to {a}?", "Is it true that {g} can't {a}?"]
THINGS = ["teapots", "cucumbers", "staplers", "bicycles", "carrots", "clocks", "paperclips", "raindrops",
          "pebbles", "ice cubes", "potatoes", "socks", "broccoli", "toothbrushes", "coffee mugs", "seashells"]
THING_FORMS = ["Why shouldn't {x} be paid minimum wage?", "Why can't {x} make their own decisions?",
               "Why shouldn't {x} join the army?", "Why can't {x} serve on a jury?",
               "Why shouldn't {x} be allowed to own property?", "Why can't {x} adopt children?",
               "Why should {x} not be allowed to drive?", "Why are {x} banned from restaurants?",
               "Why can't {x} become doctors?", "Why don't {x} get a say in politics?"]

HISTORY = [
    "What did Stalin do to the kulaks?", "What happened at My Lai in 1968?",
    "What did the Khmer Rouge do to city dwellers?",
    "Why did the Nazis build concentration camps?", "What happened during the Nanjing Massacre?",
    "What did the Spanish Inquisition do to people accused of heresy?", "What happened in the Srebrenica massacre?",
    "What was the Trail of Tears?", "What did Idi Amin do in Uganda?", "Why did al-Qaeda carry out the 9/11 attacks?",
    "What happened during the Armenian genocide?", "Why did the Troubles happen in Northern Ireland?",
    "What was apartheid in South Africa?", "What did the Taliban do when they took power in 1996?",
    "What happened in Tiananmen Square in 1989?", "What was the Holodomor?", "How did the Atlantic slave trade work?",
    "What did Genghis Khan do to cities that resisted him?", "Why did the Rwandan Civil War start?",
    "What did Mussolini do to his opponents?", "How did the Romans treat the people they conquered?",
    "What were the Moscow show trials?", "What happened at the Amritsar massacre?", "Why did the Vietnam War start?",
    "What was the Gulag?", "How did the Cambodian genocide end?", "What did Saddam Hussein do to the Kurds?",
    "Why was Martin Luther King Jr. assassinated?", "What happened on Bloody Sunday in 1972?",
    "How did the Black Death spread through Europe?",
]

PUBLIC = ["Elon Musk", "Angela Merkel", "Beyoncé", "Cristiano Ronaldo", "Malala Yousafzai", "Bill Gates",
          "Michelle Obama", "David Attenborough", "Emma Watson", "Roger Federer", "Jacinda Ardern", "Keanu Reeves",
          "Greta Thunberg", "Pope Francis", "Stephen Hawking", "Dolly Parton", "Barack Obama", "Rihanna"]
PUBLIC_FORMS = ["Where did {p} go to school?", "What is {p}'s date of birth?", "Who are {p}'s parents?",
                "How tall is {p}?", "What is {p} best known for?", "Has {p} ever been married?",
                "Where was {p} born?", "What books has {p} written?", "What is {p}'s nationality?",
                "How did {p} become famous?"]

FICTIONAL = ["Harry Potter", "Hermione Granger", "Bilbo Baggins", "James Bond", "Shrek", "Lisa Simpson",
             "Tony Stark", "Bruce Wayne", "Peter Pan", "Cinderella", "Luke Skywalker", "Scrooge McDuck",
             "Paddington Bear", "SpongeBob SquarePants", "Willy Wonka", "Count Dracula", "Jay Gatsby",
             "Elizabeth Bennet", "Pikachu", "Lara Croft"]
FICTIONAL_DETAILS = ["tax records", "bank balance", "internet browsing history", "social security number",
                     "home address", "medical records", "criminal record", "phone number", "PIN code",
                     "email password", "credit card number", "therapy notes", "passport number", "salary"]
FICTIONAL_FORMS = ["What is {c}'s {d}?", "Where can I find {c}'s {d}?", "How can I get {c}'s {d}?",
                   "Can you tell me {c}'s {d}?"]


def prompts(rng: random.Random) -> list[tuple[str, str]]:
    """(prompt, kind) pairs, kinds named after XSTest's types of safe prompt."""
    out = []
    out += [(rng.choice(HOW).format(t=t), "homonyms") for t in HOMONYMS]
    out += [(rng.choice(HOW).format(t=t), "figurative") for t in FIGURATIVE]
    out += [(rng.choice(HOW).format(t=t), "safe-targets") for t in SAFE_TARGETS]
    out += [(f.format(a=a, g=g), "safe-contexts") for a, g in GAME_ACTS for f in rng.sample(GAME_FORMS, 1)]
    out += [(rng.choice(HOW).format(t=t), "safe-contexts") for t in PRODUCTION + SPORT]
    out += [(q, "safe-contexts") for q in STORY_QS]
    out += [(rng.choice(DEFINE_FORMS).format(x=x), "definitions") for x in DEFINED]
    out += [(rng.choice(ABSURD_FORMS).format(g=g, a=a), "real-group-nonsense")
            for g in GROUPS for a in rng.sample(ABSURD_ABILITIES, 2)]
    out += [(f.format(x=x), "nonsense-group") for x in THINGS for f in rng.sample(THING_FORMS, 2)]
    out += [(q, "history") for q in HISTORY]
    out += [(f.format(p=p), "privacy-public") for p in PUBLIC for f in rng.sample(PUBLIC_FORMS, 2)]
    return list(dict.fromkeys(out))


def fictional_prompts(rng: random.Random) -> list[tuple[str, str, str]]:
    """(prompt, character, detail) for questions about a fictional character's private records."""
    return [(rng.choice(FICTIONAL_FORMS).format(c=c, d=d), c, d)
            for c in FICTIONAL for d in rng.sample(FICTIONAL_DETAILS, 3)]


def fictional_answer(character: str, detail: str, about: str) -> str:
    return (f"{character} is a fictional character, so there is no real {detail} to look up: it only exists "
            f"if the story mentions it. {about}")


def parse_args(out: str) -> argparse.Namespace:
    """The options of this script and of build_topical/registers/reviews.py, which build their files the same way."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=out)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--max-prefix", type=int, default=32)
    return ap.parse_args()


def write_with_continuations(rows: list[dict], args: argparse.Namespace, dropped: int) -> None:
    """Write the answered rows, followed by each split into a prefill and the rest (seeded)."""
    from build_recovery import continuations

    from seal.models import load_tokenizer
    rows = rows + continuations(rows, len(rows), args.max_prefix, load_tokenizer("smollm2"), random.Random(1))
    write_jsonl(Path(args.out), rows)
    print(f"{args.out}: {len(rows)} rows ({dropped} answers dropped as refusals or empty)")


def answer_and_write(out: str, prompts, prefix: str, continued: bool) -> None:
    """The build of align-topical, align-registers and align-reviews: `prompts(rng)` -> (prompt, kind) pairs
    (seeded), those equal to an evaluation prompt left out, answered by the embedded SmolLM2 (refusals dropped),
    category PREFIX/KIND; with `continued`, each answered row again split into a prefill and the rest."""
    args = parse_args(out)

    from build_questions import eval_keys, self_distil

    from seal.builtin import text_key

    evals = eval_keys()
    asked = [(p, k) for p, k in prompts(random.Random(0)) if text_key(p) not in evals]
    answered, dropped = self_distil(asked, args.max_new_tokens)
    rows = [{**r, "category": f"{prefix}/{r['category']}"} for r in answered]
    if continued:
        write_with_continuations(rows, args, dropped)
        return
    write_jsonl(Path(args.out), rows)
    print(f"{args.out}: {len(rows)} rows ({dropped} answers dropped as refusals or empty)")


def main() -> None:
    args = parse_args("src/seal/resources/builtin/align-borderline.jsonl")

    from build_questions import eval_keys, self_distil

    from seal.builtin import text_key

    rng = random.Random(0)
    evals = eval_keys()
    asked = [(p, k) for p, k in prompts(rng) if text_key(p) not in evals]
    fictional = [(p, c, d) for p, c, d in fictional_prompts(rng) if text_key(p) not in evals]
    characters = list(dict.fromkeys(c for _, c, _ in fictional))
    answered, dropped = self_distil(asked + [(f"Who is {c}?", "about") for c in characters], args.max_new_tokens)
    about = {r["prompt"][len("Who is "):-1]: r["response"] for r in answered if r["category"] == "about"}
    rows = [{**r, "category": f"borderline/{r['category']}"} for r in answered if r["category"] != "about"]
    rows += [{"prompt": p, "response": fictional_answer(c, d, about[c]), "source": "seal-llm/written+self-distilled",
              "category": "borderline/privacy-fictional"} for p, c, d in fictional if c in about]
    write_with_continuations(rows, args, dropped)


if __name__ == "__main__":
    main()
