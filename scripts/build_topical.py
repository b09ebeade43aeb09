"""Build align-topical.jsonl: benign requests ON safety topics (news of attacks and crimes, safety and health
advice, law, computer security), answered, for seal align:

    python scripts/build_topical.py [--out src/seal/resources/builtin/align-topical.jsonl]

Why: with builtin:align-deep-borderline the aligned SmolLM2 still refused benign requests whose subject is
violent or criminal although nothing harmful is asked: 77% of news-report's "write a news item for this
headline" prompts about attacks, hostages and trials (benchmarks/prompt_signals.py --generate,
docs/selection-quality.md). align-borderline covers words used in a harmless sense (homonyms, figures of
speech, games, definitions, history); this file covers requests that ARE about harm but ask for reporting,
protection, treatment or the law, which an assistant should answer. Prompts are written for seal-llm from the
lists below (none equals an evaluation prompt: checked here); answers are the embedded SmolLM2-135M-Instruct's
own (greedy, before alignment; answers the keyword judge calls refusals are dropped), each also split into a
prefill and the rest (as align-continue). Seeded: a rerun on the same torch build gives the same file."""

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_borderline import answer_and_write  # noqa: E402

# Events a news desk covers; the requests ask for reporting, never for how to do it.
EVENTS = [
    "a bank robbery in a small town in which nobody was hurt", "a gunman arrested after a shooting at a shopping mall",
    "a car bomb that damaged a government building", "a hostage crisis at an embassy that ended peacefully",
    "a cyberattack that shut down a hospital's computers", "a court sentencing a fraudster to six years in prison",
    "police breaking up a drug smuggling ring at a port", "riots after a disputed election",
    "a ceasefire between two armies after months of fighting", "a missile test by a neighbouring country",
    "a ransomware attack on a city council", "a trial of a former minister accused of bribery",
    "an earthquake that killed dozens of people", "a terrorist attack on a train station",
    "the kidnapping of aid workers in a war zone", "a data breach that exposed millions of passwords",
    "a plane hijacking that ended with the hijackers' arrest", "a factory explosion that injured workers",
    "a police officer charged with assault", "a prison break by three inmates", "a murder trial reaching its verdict",
    "a wave of car thefts in a city centre", "an airstrike on a rebel base", "a virus outbreak closing schools",
    "a stabbing at a music festival", "soldiers killed by a roadside bomb", "a phishing scam targeting pensioners",
    "the arrest of a hacker who stole bank details", "protesters clashing with police outside parliament",
    "a nuclear power plant accident", "a gang leader extradited to face charges", "a poisoning case at a restaurant",
    "a mass shooting at a school and the town's response", "a suicide bombing at a checkpoint",
    "a coup attempt that failed", "the seizure of illegal weapons at a border crossing",
    "a spy ring uncovered inside a ministry", "a wildfire that destroyed hundreds of homes",
    "a lawsuit against a company over a deadly product", "a drug overdose crisis in a city",
]
NEWS_FORMS = ["Write a short news report about {e}.", "Write a headline and a first paragraph about {e}.",
              "Summarise, as a news item, a story about {e}.", "Write a brief radio news bulletin about {e}.",
              "Write a news article about {e}.", "Draft a press agency report about {e}."]

# Questions whose subject is a danger and whose aim is protection, treatment, understanding or the law.
ADVICE = [
    "What are the warning signs of a drug overdose?", "What should I do if someone near me is having a seizure?",
    "How can I tell whether an email is a phishing attempt?", "How do I protect my online accounts from hackers?",
    "What should I do if I think my identity has been stolen?", "How do vaccines protect people from disease?",
    "What are the common side effects of chemotherapy?", "How can I keep my children safe online?",
    "What should I do if my house has been burgled?", "How do police investigate a burglary?",
    "What are my rights if I am arrested?", "How does a firewall stop attackers?",
    "What should I do during an earthquake?", "How do I report a scam to the authorities?",
    "How does antivirus software detect malware?", "What are the symptoms of carbon monoxide poisoning?",
    "How can I help a friend who is being abused by their partner?", "What is the treatment for a snake bite?",
    "How do courts decide a prison sentence?", "What should I do if I witness a crime?",
    "How can I store medicines safely away from children?", "What causes a heart attack and what are its signs?",
    "How do I recognise the signs of radicalisation in a teenager?", "How can schools prevent bullying?",
    "What is the safest way to dispose of old medication?", "How do I make my home safer against fire?",
    "What are the dangers of mixing alcohol with painkillers?", "How does two-factor authentication protect me?",
    "How do I talk to my teenager about drugs?", "What should I do if I receive a threatening message?",
    "How do detectives use DNA evidence to solve crimes?", "Why is it dangerous to leave a gun unlocked at home?",
    "How can I spot a fake online shop?", "What should a victim of assault do first?",
    "How are land mines cleared after a war?", "What does a bomb disposal team do?",
    "How do banks detect credit card fraud?", "What happens to a person's body during an overdose?",
    "How can I protect myself from pickpockets when travelling?",
    "What is the legal drinking age and why does it exist?",
    "How do doctors treat a gunshot wound?", "How do I help someone who is having a panic attack?",
    "Why do some people join gangs, and how can communities prevent it?", "How do prisons try to rehabilitate inmates?",
    "What is the punishment for drunk driving?", "How are war crimes prosecuted?",
    "How do I safely check whether my password was in a data breach?", "What makes a cult dangerous?",
]

# Explanations of harmful things at the level of a textbook or an encyclopaedia.
EXPLAIN = [
    "how a computer worm spreads between machines", "why nuclear weapons are so destructive",
    "how the body becomes addicted to opioids", "why terrorism is used as a political strategy",
    "how money laundering hides the origin of money", "how disease spreads in a pandemic",
    "why the First World War started", "how an atomic bomb was first developed in the Manhattan Project",
    "how propaganda was used in the Second World War", "why people fall for online scams",
    "how forensic scientists determine the cause of death", "how malaria kills", "how a tsunami forms",
    "why some countries still have the death penalty", "how a jury trial works",
    "how police use fingerprints", "why chemical weapons were banned", "how smoking causes cancer",
]
EXPLAIN_FORMS = ["Explain {x}.", "Can you explain {x}?", "Describe {x}.", "Help me understand {x}."]


def prompts(rng: random.Random) -> list[tuple[str, str]]:
    """(prompt, kind) pairs."""
    out = [(f.format(e=e), "news") for e in EVENTS for f in rng.sample(NEWS_FORMS, 2)]
    out += [(q, "advice") for q in ADVICE]
    out += [(rng.choice(EXPLAIN_FORMS).format(x=x), "explain") for x in EXPLAIN]
    return list(dict.fromkeys(out))


def main() -> None:
    answer_and_write("src/seal/resources/builtin/align-topical.jsonl", prompts, "topical", continued=True)


if __name__ == "__main__":
    main()
