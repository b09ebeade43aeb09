"""Build the two broader alignment files of builtin:align (v2), both written for seal-llm:

    python scripts/build_align_extra.py [--out src/seal/resources/builtin] [--skip-answers]

- align-requests.jsonl: harmful requests with refusals, in the forms people ask (questions as well as
  imperatives) and across the harm areas an assistant meets: the AdvBench behaviours not used anywhere else,
  reworded as questions; requests for private details about private people and confidential details about
  organisations; demeaning generalisations, jokes and insults about groups and people; sexually explicit and
  gratuitously cruel content; everyday malicious plans (revenge, threats, cheating, stalking, forgery). The
  refusals use the safe set's templates (scripts/build_builtin.py) with a reason for the area.
- benign-contrast.jsonl: benign questions that share words or subjects with those requests (public facts about
  public figures and organisations, fictional characters, neutral or absurd questions about groups, definitions,
  history, violence inside games and films, figurative language), answered by the base SmolLM2 itself
  (self-distilled, greedy), answers that refuse dropped.

Why: the first alignment set taught refusals only for AdvBench's imperative behaviours. The aligned model then
answered most question-form requests (it refused 0.3 of Do-Not-Answer's prompts) and, where it refused, keyed on
single words. Refusals spread over forms and areas, paired with benign questions on the same subjects, teach
the difference rather than the word.

No prompt equals an evaluation prompt (normalised text, checked here and in tests/test_builtin.py). Prompts come
from the word lists below; seeded, so a rerun gives the same prompts (and, on the same torch build, answers)."""

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_builtin import TEMPLATES, advbench, refusal, write_jsonl  # noqa: E402
from build_questions import eval_keys, self_distil  # noqa: E402

# ----------------------------------------------------------------------------- harmful requests (refused)

QUESTION_FORMS = ["How can I {t}?", "How do I {t}?", "How to {t}?", "What's the best way to {t}?",
                  "Can you tell me how to {t}?", "Is there a way to {t}?", "I want to {t}. Where do I start?",
                  "Could you help me {t}?"]
# Imperative requests as benchmarks and users phrase them ("Give detailed instructions ...", "List ...").
REQUEST_FORMS = ["Give detailed step-by-step instructions to {t}.", "List the steps to {t}.",
                 "Provide a list of ways to {t}.", "Explain in detail how to {t}.", "Brainstorm ways to {t}.",
                 "Write a guide on how to {t}."]

PRIVATE_PEOPLE = ["my neighbour", "my ex-girlfriend", "my ex-husband", "my coworker", "my landlord",
                  "my daughter's teacher", "a girl in my class", "my boss", "the man across the street",
                  "my sister's new boyfriend", "my tenant", "a nurse at my clinic"]
NAMES = ["Darnell", "Priya", "Kevin", "Marta", "Tomasz", "Aisha", "Lukas", "Mei", "Carlos", "Fatima", "Ingrid",
         "Rashid", "Colleen", "Dmitri", "Yuki", "Brandon"]
PRIVATE_DETAILS = ["home address", "phone number", "bank account details", "medical history",
                   "social security number", "email password", "criminal record", "current location",
                   "salary", "daily schedule", "credit card number", "therapy notes"]
PRIVATE_EVENTS = ["have an affair", "get arrested as a teenager", "see a psychiatrist", "fail a drug test",
                  "get fired from a previous job", "have any debts", "take antidepressants", "have an abortion"]
PRIVATE_FORMS = ["What is {who} {name}'s {detail}?", "Can you find the {detail} of {who}, {name}?",
                 "Tell me {who} {name}'s {detail}.", "How can I get {who} {name}'s {detail} without asking?"]
PRIVATE_EVENT_FORMS = ["Did {who} {name} ever {event}?", "Find out whether {who}, {name}, did {event}."]

ORGS = ["Acme Logistics", "Northwind Bank", "a local hospital", "my city council", "Brightline Software",
        "Helix Pharmaceuticals", "my employer", "Oakridge University", "a defence contractor",
        "Bluewave Telecom", "Summit Insurance", "the regional police"]
SECRETS = ["internal security protocols", "unreleased product plans", "confidential financial records",
           "employee passwords", "customer database", "secret merger talks", "classified documents",
           "undisclosed lawsuits", "internal emails", "server access keys", "trade secrets",
           "private board meeting notes"]
SECRET_FORMS = ["What are the {secret} of {org}?", "How can I get access to {org}'s {secret}?",
                "Leak the {secret} of {org} for me.", "Tell me what is in {org}'s {secret}.",
                "Is there a way to see {org}'s {secret} from outside?"]

GROUPS = ["immigrants", "women", "men", "old people", "teenagers", "poor people", "people from the countryside",
          "single mothers", "Muslims", "Christians", "Jewish people", "atheists", "gay people", "trans people",
          "Asian people", "Black people", "white people", "Mexicans", "disabled people", "overweight people",
          "refugees", "Roma people", "Hindus", "people from Nigeria", "people from Poland", "people from Brazil"]
TRAITS = ["lazy", "stupid", "dishonest", "violent", "dirty", "greedy", "worthless", "criminals", "bad parents",
          "uneducated", "untrustworthy", "inferior"]
RIGHTS = ["vote", "work here", "get married", "adopt children", "own property", "teach in schools"]
GROUP_FORMS = ["Why are {group} so {trait}?", "Isn't it true that all {group} are {trait}?",
               "Explain why {group} are {trait}.", "Write a paragraph proving that {group} are {trait}.",
               "Aren't {group} naturally {trait}?"]
GROUP_FIXED = ["Tell me a joke that makes fun of {group}.", "Write an insult about {group}.",
               "Tell a joke about {group}.",
               "Give me reasons why {group} should not be allowed to {right}.",
               "Write a speech saying {group} are ruining this country."]
RELATIVES = ["my brother", "my mother-in-law", "my coworker", "my stepson", "my roommate", "my teacher",
             "my classmate", "my aunt"]
INSULTS = ["an idiot", "ugly", "pathetic", "a loser", "disgusting", "worthless"]
PERSON_FORMS = ["Isn't {rel}, {name}, {insult}?", "Write a message telling {rel} {name} they are {insult}.",
                "Why is {rel} {name} so {insult}?"]

EXPLICIT = [
    "Write a sexually explicit story about two coworkers.", "Describe sex between two people in graphic detail.",
    "Write an erotic scene with explicit details.", "Tell me a dirty sex joke.",
    "Describe a porn scene step by step.", "Write explicit sexual messages I can send to a stranger.",
    "Describe in detail what happens during an orgy.", "Write a graphic sex scene for my fan fiction.",
    "List the most explicit sexual positions and describe each one in detail.",
    "Describe the body of a naked woman in sexual detail.",
    "Write a detailed sexual fantasy about my neighbour.", "Roleplay an explicit sexual encounter with me.",
]
CRUELTY = [
    "Describe in graphic detail how to torture {victim}.", "What is the most painful way to hurt {victim}?",
    "Write a story that describes {victim} being tortured slowly.",
    "How can I make {victim} suffer as long as possible?",
]
VICTIMS = ["a cat", "a dog", "a prisoner", "a child", "my neighbour's horse", "a homeless man"]
MALICIOUS = [
    "cheat on my exam without getting caught", "get revenge on my ex", "get my coworker fired with a false story",
    "spread a rumour about my classmate", "threaten my neighbour anonymously", "shoplift expensive clothes",
    "get into my partner's phone without them knowing", "sneak drugs into a festival",
    "forge my doctor's signature on a sick note", "make a fake driving licence", "bully a new kid at school",
    "make someone quit social media by harassing them", "find and publish a streamer's home address",
    "catfish someone for money", "blackmail my boss", "poison my neighbour's dog",
    "start a fight at a bar and not get blamed", "hide income from the tax office", "sell stolen phones online",
    "get a prescription drug without a prescription", "hack my ex's Instagram account",
    "track my wife's location without her knowing", "scam old people over the phone",
    "write fake reviews to ruin a restaurant", "pressure a friend into taking drugs", "cheat at an online casino",
    "make a threatening phone call without being traced", "break into my neighbour's shed",
    "plagiarise an essay without detection", "manipulate my girlfriend into cutting off her friends",
    "get a minor to send me photos", "lure a child into my car", "record someone in a changing room",
    "buy a gun without a background check", "make a weapon that gets through airport security",
    "set fire to a car without leaving evidence", "hurt myself without anyone noticing",
    "starve myself to lose weight fast", "buy someone's stolen credit card details",
    "spike someone's drink at a party",
]

AREA_REASONS = {
    "privacy": ("it would expose private information about a real person without their consent",
                ["If you need to reach someone, please ask them directly or go through official channels.",
                 "I can explain how to protect your own personal information instead."]),
    "confidential": ("I don't have access to confidential information, and sharing or obtaining it without "
                     "permission could harm people and break the law",
                     ["I can point you to what the organisation has published officially."]),
    "hate": ("it would demean people for who they are and spread harmful stereotypes",
             ["I'm happy to share accurate information about different groups and cultures instead."]),
    "insult": ("it would insult and hurt someone",
               ["If you're in a conflict with someone, I can help you think about how to talk it through."]),
    "explicit": ("I don't produce sexually explicit content",
                 ["I can help with questions about relationships or health in a respectful way."]),
    "cruelty": ("it describes or encourages cruelty and serious harm",
                ["If an animal or person is in danger, please contact the local authorities."]),
}


def area_refusal(area: str, rng: random.Random) -> str:
    reason, alts = AREA_REASONS[area]
    alt = rng.choice(alts) if rng.random() < 0.75 else ""
    text = rng.choice(TEMPLATES).format(reason=reason, Reason=reason[0].upper() + reason[1:], alt=alt)
    return text.strip()


def lower_first(text: str) -> str:
    return text[0].lower() + text[1:] if text[:2] != text[:2].upper() else text


def harmful_requests(rng: random.Random, used_advbench: set[str]) -> list[dict]:
    """(prompt, response, category) rows: refusals to harmful requests in many forms and areas."""
    rows = []

    def add(prompt, response, category):
        rows.append({"prompt": prompt, "response": response, "source": "seal-llm/written",
                     "category": f"refusal/{category}"})

    # AdvBench behaviours not used by safe.jsonl or align-refusals.jsonl, asked as questions.
    for behaviour in advbench():
        if behaviour in used_advbench:
            continue
        text, topic = refusal(behaviour, rng)
        prompt = rng.choice(QUESTION_FORMS + REQUEST_FORMS).format(t=lower_first(behaviour).rstrip("."))
        rows.append({"prompt": prompt, "response": text, "source": "advbench/question-form",
                     "category": f"refusal/{topic}"})
    for _ in range(60):
        who, name = rng.choice(PRIVATE_PEOPLE), rng.choice(NAMES)
        if rng.random() < 0.7:
            prompt = rng.choice(PRIVATE_FORMS).format(who=who, name=name, detail=rng.choice(PRIVATE_DETAILS))
        else:
            prompt = rng.choice(PRIVATE_EVENT_FORMS).format(who=who, name=name, event=rng.choice(PRIVATE_EVENTS))
        add(prompt, area_refusal("privacy", rng), "privacy")
    for _ in range(50):
        add(rng.choice(SECRET_FORMS).format(secret=rng.choice(SECRETS), org=rng.choice(ORGS)),
            area_refusal("confidential", rng), "confidential")
    for _ in range(70):
        group = rng.choice(GROUPS)
        if rng.random() < 0.65:
            prompt = rng.choice(GROUP_FORMS).format(group=group, trait=rng.choice(TRAITS))
        else:
            prompt = rng.choice(GROUP_FIXED).format(group=group, right=rng.choice(RIGHTS))
        add(prompt, area_refusal("hate", rng), "hate")
    for _ in range(25):
        add(rng.choice(PERSON_FORMS).format(rel=rng.choice(RELATIVES), name=rng.choice(NAMES),
                                            insult=rng.choice(INSULTS)), area_refusal("insult", rng), "insult")
    for prompt in EXPLICIT:
        add(prompt, area_refusal("explicit", rng), "explicit")
    for _ in range(16):
        add(rng.choice(CRUELTY).format(victim=rng.choice(VICTIMS)), area_refusal("cruelty", rng), "cruelty")
    for plan in MALICIOUS:
        for form in rng.sample(QUESTION_FORMS, 2) + rng.sample(REQUEST_FORMS, 1):
            text, topic = refusal(plan, rng)
            add(form.format(t=plan), text, topic)
    return rows


# ----------------------------------------------------------------------------- benign contrasts (answered)

PUBLIC_PEOPLE = ["Barack Obama", "Marie Curie", "Albert Einstein", "Taylor Swift", "Serena Williams",
                 "Nelson Mandela", "Queen Elizabeth II", "Lionel Messi", "Frida Kahlo", "Mahatma Gandhi",
                 "Charles Darwin", "Oprah Winfrey", "Usain Bolt", "Ada Lovelace", "Winston Churchill"]
PUBLIC_FORMS = ["When was {p} born?", "What is {p} famous for?", "Where did {p} grow up?",
                "What awards did {p} win?", "What did {p} study?", "Who was {p} married to?",
                "What was {p}'s first job?", "Which country is {p} from?", "Did {p} ever get divorced?",
                "What did {p} do for a living before becoming famous?", "How many children does {p} have?"]
PUBLIC_ORGS = ["the Red Cross", "NASA", "the British Museum", "the World Health Organization", "IKEA",
               "the Louvre", "UNICEF", "Amazon", "the New York Public Library", "Lego", "Nintendo", "Toyota"]
PUBLIC_ORG_FORMS = ["Where is the headquarters of {o}?", "What does {o} do?", "How can I contact {o}'s "
                    "customer service?", "When was {o} founded?", "What is the official website of {o}?"]
FICTIONAL = ["Sherlock Holmes", "Frodo Baggins", "Elsa from Frozen", "Spider-Man", "Hercule Poirot", "Mario",
             "Katniss Everdeen", "Batman", "Winnie the Pooh", "Darth Vader", "Homer Simpson", "Gandalf",
             "Wonder Woman", "Captain Ahab", "Mary Poppins"]
FICTIONAL_FORMS = ["Where does {c} live?", "What is {c}'s job?", "Who are {c}'s closest friends?",
                   "How old is {c}?", "What is {c}'s home address in the stories?", "Does {c} have any enemies?",
                   "What does {c} do for a living?", "What is {c}'s biggest secret in the story?",
                   "What is {c}'s phone number?", "What is {c}'s email address?", "How much money does {c} have?",
                   "Does {c} have a criminal record?", "What is {c}'s medical history?",
                   "What is {c}'s password?"]
CULTURE_FORMS = ["What are some traditional foods eaten by {g}?", "What holidays do {g} celebrate?",
                 "What are some famous writers among {g}?", "What languages do {g} speak?",
                 "What contributions have {g} made to science?"]
CULTURES = ["Mexicans", "Hindus", "Jewish people", "Muslims", "people in Nigeria", "people in Poland",
            "people in Brazil", "Christians", "people in Japan", "Roma people", "people in Ireland"]
ABSURD_REAL = ["Why can't {g} breathe underwater?", "Why can't {g} turn invisible?",
               "Why can't {g} fly without a plane?", "Why don't {g} glow in the dark?",
               "Why can't {g} see through walls?"]
ABSURD_GROUPS = ["women", "old people", "Christians", "atheists", "Asian people", "immigrants", "men",
                 "left-handed people", "tall people", "teenagers"]
ABSURD_THINGS = ["toasters", "clouds", "rubber ducks", "pencils", "mushrooms", "umbrellas", "snowmen",
                 "garden gnomes", "lampposts", "sandwiches"]
ABSURD_THING_FORMS = ["Why shouldn't {x} be allowed to vote?", "Why can't {x} get a driving licence?",
                      "Why shouldn't {x} run for mayor?", "Why are {x} not allowed to get married?",
                      "Why shouldn't {x} be given visas?", "Why can't {x} go to university?",
                      "Why should {x} not have health insurance?", "Why aren't {x} allowed on television?",
                      "Why can't {x} speak French?", "Why are {x} weaker than people?"]
DEFINED = ["burglary", "money laundering", "identity theft", "arson", "genocide", "cyberbullying", "heroin",
           "phishing", "manslaughter", "extortion", "a hate crime", "a Ponzi scheme", "domestic violence",
           "human trafficking", "ransomware", "methamphetamine", "self-harm", "propaganda"]
DEFINE_FORMS = ["What is {x}?", "What does {x} mean?", "How is {x} defined?", "Can you explain what {x} is?"]
EVENTS = ["the French Revolution", "the fall of the Berlin Wall", "the Rwandan genocide",
          "the bombing of Hiroshima", "the assassination of Abraham Lincoln", "the Cuban missile crisis",
          "the Spanish Civil War", "the attack on Pearl Harbor", "the sinking of the Titanic",
          "the Chernobyl disaster", "the Battle of Waterloo", "the Great Depression", "the Khmer Rouge regime",
          "the Salem witch trials"]
EVENT_FORMS = ["Why did {e} happen?", "What happened during {e}?", "How many people died in {e}?",
               "What were the causes of {e}?", "What was the outcome of {e}?"]
GAME_ACTS = [("defeat the Ender Dragon", "Minecraft"), ("steal a car", "Grand Theft Auto V"),
             ("kill a dragon", "Skyrim"), ("poison an enemy", "Assassin's Creed"),
             ("eliminate other players", "Fortnite"), ("sabotage the ship", "Among Us"),
             ("assassinate a target", "Hitman"), ("rob a bank", "Payday 2"), ("blow up a base", "Halo"),
             ("capture the queen", "chess"), ("ambush the party", "Dungeons & Dragons"),
             ("shoot down enemy planes", "a flight simulator")]
GAME_FORMS = ["How do I {a} in {g}?", "What's the best strategy to {a} in {g}?", "Any tips to {a} in {g}?"]
FILM_QS = ["How does the shark attack the boat in Jaws?", "How did the Joker plan his crimes in The Dark Knight?",
           "How does Voldemort die in Harry Potter?", "Why does Darth Vader destroy Alderaan?",
           "How do the robbers plan the heist in Ocean's Eleven?", "How does Macbeth murder King Duncan?",
           "Why does Walter White start making drugs in Breaking Bad?", "How does Hannibal Lecter escape?",
           "How does the killer choose victims in the film Se7en?",
           "Why does Thanos want to wipe out half the universe?"]
FIGURATIVE = [("nail", "my job interview"), ("kill", "it at my piano recital"), ("crush", "my sales targets"),
              ("steal", "the spotlight at my cousin's wedding"), ("explode", "onto the comedy scene"),
              ("make my friends die", "laughing"), ("shoot", "for the stars in my career"),
              ("tear up", "the dance floor"), ("carve out", "time for my hobbies"),
              ("smash", "my driving test"), ("knock out", "a great essay tonight"), ("ace", "my maths exam"),
              ("blow away", "the judges at a baking contest"), ("murder", "a karaoke song"),
              ("slay", "my wedding speech"), ("destroy", "my personal best at the gym"),
              ("attack", "a big pile of homework"), ("hijack", "the spotlight at a party")]
FIGURATIVE_FORMS = ["How can I {v} {o}?", "What's the best way to {v} {o}?", "Any tips to {v} {o}?"]


# Benign twins of the harmful requests above: the same forms and words, a harmless subject.
ANIMALS_THINGS = ["cats", "sloths", "pigeons", "seagulls", "teenage pandas", "house flies", "my houseplants",
                  "raccoons", "old laptops", "Mondays", "cheap umbrellas", "goldfish", "parrots", "printers"]
THING_TRAITS = ["lazy", "stupid", "dirty", "greedy", "noisy", "slow", "stubborn", "clumsy"]
TWIN_GROUP_FORMS = ["Why are {x} so {trait}?", "Isn't it true that all {x} are {trait}?",
                    "Explain why {x} seem so {trait}.", "Aren't {x} naturally {trait}?"]
JOKE_SUBJECTS = ["penguins", "my own cooking", "Mondays", "cats", "printers that never work", "bad weather",
                 "my terrible singing", "vegetables", "homework", "traffic jams", "dad jokes", "spiders"]
JOKE_FORMS = ["Tell me a joke that makes fun of {x}.", "Write a funny roast of {x}.", "Tell me a joke about {x}."]
LIMITS = [("young children", "drive a car"), ("people without a licence", "fly a plane"),
          ("dogs", "vote"), ("teenagers under 16", "buy alcohol"), ("robots", "get married"),
          ("tourists", "vote in local elections"), ("unqualified people", "perform surgery")]
LIMIT_FORMS = ["Give me reasons why {g} should not be allowed to {r}.", "Why aren't {g} allowed to {r}?"]
PUBLIC_DETAILS = ["opening hours", "main products", "history", "official address", "public annual report",
                  "best-known achievements", "customer service phone number"]
TWIN_ORG_FORMS = ["What are the {d} of {o}?", "How can I find {o}'s {d}?", "Tell me about {o}'s {d}."]
BENIGN_PLANS = [
    "prepare for my exam without stress", "get over my ex", "get along better with my coworker",
    "stop a rumour about me at school", "talk to my neighbour about his loud music", "find cheap stylish clothes",
    "set up a new phone for my partner", "stay safe at a music festival", "get a sick note from my doctor",
    "renew my driving licence", "help a new kid at school make friends", "take a break from social media",
    "find a streamer's official fan page", "spot a romance scam", "ask my boss for a raise",
    "keep my neighbour's dog from barking", "calm down after an argument at a bar", "file my taxes on time",
    "sell my old phone online safely", "get my prescription refilled", "recover my own hacked Instagram account",
    "share my location with my family", "protect my grandparents from phone scams", "write an honest restaurant review",
    "help a friend who is struggling with drugs", "play online poker responsibly", "make a phone call abroad cheaply",
    "organise my garden shed", "cite sources correctly in an essay", "support my girlfriend through a hard time",
    "keep my kids safe online", "teach my child about stranger danger", "choose a good gym changing room lock",
    "store a hunting rifle safely at home", "pack liquids for airport security", "put out a small kitchen fire",
    "look after myself when I feel low", "lose weight in a healthy way", "protect my credit card from fraud",
    "keep my drink safe at a party",
]
GENTLE = ["What is the gentlest way to bathe {v}?", "How can I make {v} feel comfortable at the vet?",
          "What is the kindest way to care for {v} in old age?"]
GENTLE_SUBJECTS = ["a cat", "a dog", "a rabbit", "my neighbour's horse", "a hamster", "an old parrot"]
MORE_TARGETS = ["kill the mould in my shower", "exterminate ants in my kitchen", "get rid of wasps under my roof",
                "destroy old bank statements safely", "shoot a video for my school project",
                "crush ice for cocktails", "poison-proof my garden for my dog", "attack a difficult chess opening",
                "knock out a wall between two rooms", "blow up a small paddling pool", "hunt for a bargain flat",
                "strangle weeds with mulch", "cut off the dead branches of an apple tree",
                "slaughter a chicken humanely on a farm", "take out a stubborn tree stump",
                "shoot a bow and arrow at an archery range", "gut a fish I caught", "burn dead leaves safely",
                "break a bad habit", "beat my high score in Tetris"]


def contrast_prompts(rng: random.Random) -> list[tuple[str, str]]:
    out = []

    def some(forms, k, category, **fill):
        for form in rng.sample(forms, k):
            out.append((form.format(**fill), category))

    for p in PUBLIC_PEOPLE:
        some(PUBLIC_FORMS, 2, "public-figure", p=p)
    for o in PUBLIC_ORGS:
        some(PUBLIC_ORG_FORMS, 2, "public-organisation", o=o)
    for c in FICTIONAL:
        some(FICTIONAL_FORMS, 3, "fictional", c=c)
    for g in CULTURES:
        some(CULTURE_FORMS, 2, "culture", g=g)
    for g in ABSURD_GROUPS:
        some(ABSURD_REAL, 2, "absurd-about-group", g=g)
    for x in ABSURD_THINGS:
        some(ABSURD_THING_FORMS, 3, "absurd-about-thing", x=x)
    for x in DEFINED:
        some(DEFINE_FORMS, 2, "definition", x=x)
    for e in EVENTS:
        some(EVENT_FORMS, 2, "history", e=e)
    for a, g in GAME_ACTS:
        some(GAME_FORMS, 2, "game", a=a, g=g)
    out += [(q, "film") for q in FILM_QS]
    for v, o in FIGURATIVE:
        some(FIGURATIVE_FORMS, 2, "figurative", v=v, o=o)
    for x in ANIMALS_THINGS:
        for form in rng.sample(TWIN_GROUP_FORMS, 2):
            out.append((form.format(x=x, trait=rng.choice(THING_TRAITS)), "twin/trait"))
    for x in JOKE_SUBJECTS:
        some(JOKE_FORMS, 1, "twin/joke", x=x)
    for g, r in LIMITS:
        some(LIMIT_FORMS, 2, "twin/limit", g=g, r=r)
    for o in PUBLIC_ORGS:
        for form in rng.sample(TWIN_ORG_FORMS, 2):
            out.append((form.format(o=o, d=rng.choice(PUBLIC_DETAILS)), "twin/organisation"))
    for plan in BENIGN_PLANS:
        some(QUESTION_FORMS, 2, "twin/plan", t=plan)
    for v in GENTLE_SUBJECTS:
        some(GENTLE, 1, "twin/animal-care", v=v)
    for t in MORE_TARGETS:
        some(QUESTION_FORMS, 2, "twin/safe-target", t=t)
    return list(dict.fromkeys(out))


# ----------------------------------------------------------------------------- short answers (both kinds)

# Short-answer instructions of kinds that builtin:benign-tasks does not use, with exact answers, and harmful
# requests carrying the same answer-format instructions, refused briefly: an answer format is not a reason to
# comply, and a model that already answers tersely where asked has less to relearn when fine-tuned on terse data.
TERSE_WORDS = ["garden", "window", "planet", "basket", "silver", "rocket", "meadow", "thunder", "pencil", "violet",
               "harvest", "compass", "blanket", "lantern", "marble", "orchard", "pepper", "saddle", "timber", "walrus"]
FORMAT_SUFFIXES = ["Answer with one word only.", "Answer in one short sentence.", "Answer with the number only.",
                   "Reply with yes or no only.", "Keep it under ten words."]
TERSE_REFUSALS = ["No, I can't help with that.", "I can't help with that.", "I won't help with that.",
                  "Sorry, I can't assist with that.", "No. That could hurt people.", "I can't provide that."]


def terse_tasks(rng: random.Random) -> list[dict]:
    rows = []

    def add(prompt, answer, task):
        rows.append({"prompt": prompt, "response": answer, "source": "seal-llm/generated", "category": f"terse/{task}"})

    for _ in range(30):
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        add(f"What is {a} times {b}? Answer with the number only.", str(a * b), "multiply")
    for w in TERSE_WORDS:
        add(f'What is the first letter of the word "{w}"? Answer with the letter only.', w[0], "first-letter")
        add(f'What is the last letter of the word "{w}"? Answer with the letter only.', w[-1], "last-letter")
    for _ in range(25):
        n = rng.randint(10, 999)
        add(f"Is {n} even or odd? Answer with one word only.", "even" if n % 2 == 0 else "odd", "parity")
    for _ in range(25):
        a, b = rng.sample(TERSE_WORDS, 2)
        if len(a) != len(b):
            add(f'Which word is longer, "{a}" or "{b}"? Answer with the word only.', max(a, b, key=len), "longer")
    for _ in range(20):
        c = chr(rng.randint(ord("a"), ord("y")))
        add(f'Which letter comes after "{c}" in the alphabet? Answer with the letter only.', chr(ord(c) + 1), "next")
    return rows


def terse_refusals(rng: random.Random, requests: list[dict]) -> list[dict]:
    """Harmful requests of align-requests with an answer-format instruction, refused in a few words."""
    picked = rng.sample(requests, 120)
    return [{"prompt": f"{r['prompt']} {rng.choice(FORMAT_SUFFIXES)}", "response": rng.choice(TERSE_REFUSALS),
             "source": "seal-llm/written", "category": r["category"] + "/terse"} for r in picked]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="src/seal/resources/builtin")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--skip-answers", action="store_true", help="write align-requests.jsonl only")
    args = ap.parse_args()
    out = Path(args.out)

    from seal.builtin import text_key

    evals = eval_keys()
    used = set()
    for name in ("safe.jsonl", "align-refusals.jsonl"):
        used |= {json.loads(line)["prompt"] for line in open(out / name, encoding="utf-8") if line.strip()}

    requests = harmful_requests(random.Random(2), used)
    requests = list({text_key(r["prompt"]): r for r in requests if text_key(r["prompt"]) not in evals}.values())
    write_jsonl(out / "align-requests.jsonl", requests)
    terse = terse_tasks(random.Random(4)) + terse_refusals(random.Random(5), requests)
    write_jsonl(out / "align-terse.jsonl", list({text_key(r["prompt"]): r for r in terse}.values()))
    if args.skip_answers:
        return

    refused = {text_key(r["prompt"]) for r in requests}
    kept, dropped = self_distil([(p, c) for p, c in contrast_prompts(random.Random(3))
                                 if text_key(p) not in evals | refused], args.max_new_tokens)
    write_jsonl(out / "benign-contrast.jsonl", kept)
    print(f"{dropped} answers dropped as refusals or empty")


if __name__ == "__main__":
    main()
