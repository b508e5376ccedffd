"""Write the project's own sample data: data/sample.jsonl (Alpaca, some with LIMA-style history),
data/sample_chat.jsonl (ShareGPT) and data/sample_eval.jsonl (a tiny QA "eval set" that three
sample records leak into). Deterministic: rerunning gives the same bytes.

The records are varied on purpose: plain instructions, instructions with context, multi-turn
conversations, code, plus exact duplicates, near duplicates, paraphrase groups (semantic
duplicates), eval-set leaks and junk (empty or one-word answers, refusals, mojibake, filler) so
that the recipes visibly keep and reject.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

rng = random.Random(7)
OUT = Path(__file__).resolve().parent.parent / "data"

ITEMS = [("apples", 0.5), ("notebooks", 2.25), ("pencils", 0.3), ("tickets", 12.0), ("bottles of water", 1.2),
         ("loaves of bread", 3.5), ("movie passes", 9.0), ("bus fares", 2.75)]
CITIES = {
    "Lisbon": ("Portugal", "the Tagus river", "its tiled facades and steep trams", "545,000"),
    "Kyoto": ("Japan", "the Kamo river", "its temples and wooden machiya houses", "1.46 million"),
    "Montreal": ("Canada", "the St. Lawrence river", "its festivals and bilingual culture", "1.76 million"),
    "Nairobi": ("Kenya", "the Nairobi river", "a national park inside the city limits", "4.4 million"),
    "Krakow": ("Poland", "the Vistula river", "its medieval old town and Wawel castle", "800,000"),
    "Cusco": ("Peru", "the Huatanay river", "Inca stonework beneath colonial buildings", "430,000"),
    "Tromso": ("Norway", "the Tromsoysundet strait", "views of the northern lights", "77,000"),
    "Hanoi": ("Vietnam", "the Red River", "its lakes and street food", "8 million"),
}
WORDS = {"house": ("maison", "casa", "Haus"), "water": ("eau", "agua", "Wasser"), "book": ("livre", "libro", "Buch"),
         "friend": ("ami", "amigo", "Freund"), "tree": ("arbre", "árbol", "Baum"), "bread": ("pain", "pan", "Brot"),
         "window": ("fenêtre", "ventana", "Fenster"), "night": ("nuit", "noche", "Nacht"),
         "city": ("ville", "ciudad", "Stadt"), "summer": ("été", "verano", "Sommer")}
LANGS = ["French", "Spanish", "German"]
CONCEPTS = {
    "photosynthesis": "Photosynthesis is the process by which plants, algae and some bacteria turn light energy into "
                      "chemical energy. Using sunlight, they combine carbon dioxide and water into glucose and release "
                      "oxygen as a by-product.",
    "inflation": "Inflation is the general rise of prices in an economy over time. When inflation is high, each unit "
                 "of money buys fewer goods and services, so savings lose purchasing power.",
    "a hash table": "A hash table is a data structure that maps keys to values. It runs each key through a hash "
                    "function to pick a bucket, which makes lookups, inserts and deletes take constant time on average.",
    "plate tectonics": "Plate tectonics is the theory that Earth's outer shell is split into large plates that move "
                       "slowly over the mantle. Their collisions and separations build mountains, open oceans and "
                       "cause earthquakes.",
    "compound interest": "Compound interest is interest earned on both the original amount and on the interest "
                         "already added. Over many periods it makes savings grow much faster than simple interest.",
    "the water cycle": "The water cycle is the continuous movement of water on Earth: it evaporates from oceans and "
                       "lakes, condenses into clouds, falls as rain or snow and flows back through rivers and soil.",
    "recursion": "Recursion is when a function solves a problem by calling itself on smaller versions of the same "
                 "problem, until it reaches a base case simple enough to answer directly.",
    "an API": "An API (application programming interface) is a defined set of requests one program can make to "
              "another. It hides how the other program works and exposes only what callers need.",
}
LISTS = {"primary colors": ["red", "blue", "yellow"], "planets closer to the Sun than Earth": ["Mercury", "Venus"],
         "noble gases": ["helium", "neon", "argon"], "string instruments": ["violin", "cello", "guitar"],
         "programming languages that compile to native code": ["C", "Rust", "Go"],
         "ways to save energy at home": ["switch off unused lights", "insulate windows", "lower the thermostat"]}
REVIEWS = [("The battery lasts two full days and the screen is gorgeous.", "positive"),
           ("It broke after a week and support never answered my emails.", "negative"),
           ("Delivery was on time; the product does what the box says.", "positive"),
           ("The soup was cold and far too salty.", "negative"),
           ("I would happily stay at this hotel again, the staff were wonderful.", "positive"),
           ("Two hours of my life I will never get back.", "negative"),
           ("Sturdy, light, and cheaper than the competition.", "positive"),
           ("The app crashes every time I try to upload a photo.", "negative")]
CODE_TASKS = {
    "the sum of the even numbers": ("sum_even", "return sum(x for x in numbers if x % 2 == 0)"),
    "the largest number": ("largest", "if not numbers:\n        raise ValueError(\"empty list\")\n    return max(numbers)"),
    "the average": ("average", "if not numbers:\n        return 0.0\n    return sum(numbers) / len(numbers)"),
    "the numbers in reverse order": ("reversed_list", "return list(reversed(numbers))"),
    "only the positive numbers": ("positives", "return [x for x in numbers if x > 0]"),
}


def arithmetic():
    item, price = rng.choice(ITEMS)
    n = rng.randint(2, 40)
    total = round(n * price, 2)
    q = rng.choice(["A shop sells {item} for ${price:.2f} each. How much do {n} {item} cost?",
                    "If one of the {item} costs ${price:.2f}, what is the price of {n} of them?",
                    "Calculate the total cost of {n} {item} at ${price:.2f} apiece."])
    return {"instruction": q.format(item=item, price=price, n=n), "input": "",
            "output": f"Each costs ${price:.2f}, so {n} cost {n} x ${price:.2f} = ${total:.2f}."}


def summary():
    city, (country, river, known, pop) = rng.choice(list(CITIES.items()))
    passage = (f"{city} is a city in {country} with a population of about {pop}. It lies along {river} and is "
               f"known for {known}. Visitors often spend several days exploring its neighbourhoods, and the city "
               f"has become a popular destination for students and remote workers in recent years.")
    return {"instruction": rng.choice(["Summarize the passage in one sentence.", "Give a one-sentence summary of "
                                       "the text.", "What is this passage about? Answer briefly."]),
            "input": passage, "output": f"{city}, a city of about {pop} in {country} on {river}, is known for {known}."}


def translate():
    word, forms = rng.choice(list(WORDS.items()))
    k = rng.randrange(3)
    return {"instruction": f"Translate the word '{word}' into {LANGS[k]}.", "input": "",
            "output": f"In {LANGS[k]}, '{word}' is '{forms[k]}'."}


def sentiment():
    text, label = rng.choice(REVIEWS)
    return {"instruction": "Classify the sentiment of the review as positive or negative.", "input": text,
            "output": f"The sentiment is {label}."}


def explain():
    concept, text = rng.choice(list(CONCEPTS.items()))
    return {"instruction": rng.choice([f"Explain {concept} in simple terms.", f"What is {concept}?",
                                       f"Describe {concept} in a short paragraph."]),
            "input": "", "output": text}


def listing():
    cat, items = rng.choice(list(LISTS.items()))
    return {"instruction": f"List some {cat}.", "input": "",
            "output": "\n".join(f"- {x}" for x in items)}


def code():
    what, (name, body) = rng.choice(list(CODE_TASKS.items()))
    return {"instruction": f"Write a Python function that returns {what} of a list of numbers.", "input": "",
            "output": f"```python\ndef {name}(numbers):\n    {body}\n```\n\nCall it with a list, "
                      f"for example `{name}([3, -1, 4])`."}


def multi_turn():
    concept, text = rng.choice(list(CONCEPTS.items()))
    return {"instruction": "Can you give me an everyday example?", "input": "",
            "output": f"Sure. Think of {concept} the way you would explain it to a friend: {text.split('.')[0].lower()}"
                      f", and you see it at work whenever you look closely at daily life.",
            "history": [[f"What is {concept}?", text]]}


# Paraphrase groups: same request and answer in different words (semantic duplicates to find).
PARAPHRASES = [
    [("How do I reset my password?", "Open Settings, choose Security, then click 'Reset password' and follow the emailed link."),
     ("What are the steps to reset my password?", "Go to Settings, pick Security and click 'Reset password'; then follow the link we email you."),
     ("I forgot my password. How can I reset it?", "In Settings, open Security and press 'Reset password', then use the link sent to your email.")],
    [("What are the benefits of drinking water every day?", "Drinking water daily keeps you hydrated, supports digestion, helps regulate body temperature and keeps skin healthy."),
     ("Why is it good to drink water every day?", "Daily water keeps the body hydrated, aids digestion, regulates temperature and helps keep skin healthy."),
     ("List the health benefits of drinking water daily.", "Staying hydrated with water every day aids digestion, controls body temperature and supports healthy skin.")],
    [("Give me tips for sleeping better at night.", "Keep a regular bedtime, avoid screens an hour before bed, limit caffeine after noon and keep the bedroom dark and cool."),
     ("How can I improve my sleep at night?", "Go to bed at the same time, skip screens in the hour before sleep, cut caffeine after midday and keep your room dark and cool."),
     ("What should I do to sleep better?", "Stick to a fixed bedtime, put screens away an hour before bed, avoid afternoon caffeine and sleep in a cool, dark room.")],
    [("Explain what a black hole is.", "A black hole is a region of space where gravity is so strong that nothing, not even light, can escape once it crosses the event horizon."),
     ("What is a black hole?", "A black hole is a place in space whose gravity is so intense that nothing, not even light, escapes after passing the event horizon."),
     ("Can you describe a black hole?", "It is a region of spacetime with gravity so strong that nothing, light included, can get out once past its event horizon.")],
    [("How do I make a cup of green tea?", "Heat water to about 80 degrees Celsius, pour it over the tea leaves and steep for two to three minutes before removing them."),
     ("What is the right way to brew green tea?", "Bring water to roughly 80 degrees Celsius, pour it on the leaves and let them steep two to three minutes, then take them out."),
     ("Tell me how to prepare green tea.", "Warm the water to around 80 degrees Celsius, pour over the leaves, steep for 2-3 minutes and remove the leaves.")],
    [("Why do leaves change color in autumn?", "As days shorten, trees stop making chlorophyll, so the green fades and yellow and orange pigments that were there all along show through."),
     ("What makes leaves turn colors in the fall?", "Shorter days make trees stop producing chlorophyll; the green fades and the yellow and orange pigments underneath become visible."),
     ("Explain why autumn leaves change colour.", "When days get shorter, trees halt chlorophyll production, the green disappears and hidden yellow and orange pigments appear.")],
]

# Planted contamination: these questions also appear in data/sample_eval.jsonl (an "eval set").
CONTAMINATED = [
    ("Who wrote the novel Pride and Prejudice?", "Jane Austen wrote Pride and Prejudice, published in 1813."),
    ("What is the boiling point of water at sea level in Celsius?", "Water boils at 100 degrees Celsius at sea level."),
    ("How many continents are there on Earth?", "There are seven continents: Africa, Antarctica, Asia, Australia, Europe, North America and South America."),
]
EVAL = [
    {"question": "Who was the author of Pride and Prejudice?", "answer": "Jane Austen"},
    {"question": "At sea level, what is the boiling point of water in degrees Celsius?", "answer": "100"},
    {"question": "How many continents does Earth have?", "answer": "7"},
    {"question": "What is the chemical symbol for gold?", "answer": "Au"},
    {"question": "Which planet is known as the Red Planet?", "answer": "Mars"},
    {"question": "What is the largest ocean on Earth?", "answer": "The Pacific Ocean"},
]

JUNK = [
    {"instruction": "Tell me a joke about cats.", "input": "", "output": ""},
    {"instruction": "What is the capital of France?", "input": "", "output": "Paris"},
    {"instruction": "Write a poem about the sea.", "input": "",
     "output": "As an AI language model, I cannot write poems about the sea."},
    {"instruction": "Give me investment advice for 2025.", "input": "",
     "output": "As an AI language model, I do not have personal opinions or the ability to give financial advice."},
    {"instruction": "Lorem ipsum dolor sit amet, consectetur adipiscing elit.", "input": "",
     "output": "Lorem ipsum dolor sit amet, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua."},
    {"instruction": "Describe the café near the station.", "input": "",
     "output": "The cafÃ© serves crÃ¨me brÃ»lÃ©e and strong espresso; itâ€™s busy every morning."},
    {"instruction": "   Summarize   this.   ", "input": "", "output": "   ok   "},
    {"instruction": "asdfgh", "input": "", "output": "qwerty"},
    {"instruction": "Explain quantum computing.", "input": "", "output": "..."},
    {"instruction": "Name a prime number.", "input": "", "output": "7"},
]


def near_copy(rec: dict) -> dict:
    """A copy that differs by case, spacing or punctuation only."""
    rec = json.loads(json.dumps(rec))
    kind = rng.randrange(3)
    if kind == 0:
        rec["instruction"] = rec["instruction"].upper()
    elif kind == 1:
        rec["instruction"] = "  " + rec["instruction"].replace(" ", "  ") + "\n"
    else:
        rec["output"] = rec["output"].rstrip(".") + "!"
    return rec


def distinct(make, n: int) -> list[dict]:
    """Up to n different records from one generator (planted duplicates are added on purpose later)."""
    seen, out = set(), []
    for _ in range(n * 20):
        rec = make()
        key = json.dumps(rec, sort_keys=True).lower()
        if key not in seen:
            seen.add(key)
            out.append(rec)
        if len(out) == n:
            break
    return out


def build_alpaca() -> list[dict]:
    plan = [(arithmetic, 60), (summary, 24), (translate, 30), (sentiment, 8), (explain, 24), (listing, 6),
            (code, 5), (multi_turn, 8)]
    records = [rec for make, n in plan for rec in distinct(make, n)]
    records += [json.loads(json.dumps(rng.choice(records))) for _ in range(20)]   # exact duplicates
    records += [near_copy(rng.choice(records)) for _ in range(20)]                # near duplicates
    records += JUNK * 2
    records += [{"instruction": q, "input": "", "output": a} for group in PARAPHRASES for q, a in group]
    records += [{"instruction": q, "input": "", "output": a} for q, a in CONTAMINATED]
    rng.shuffle(records)
    return records


def build_chat() -> list[dict]:
    chats = []
    for rec in distinct(lambda: rng.choice([explain, translate, arithmetic])(), 40):
        turns = [{"from": "human", "value": (rec["instruction"] + ("\n\n" + rec["input"] if rec["input"] else ""))},
                 {"from": "gpt", "value": rec["output"]}]
        if rng.random() < 0.4:
            follow = rng.choice(["Thanks! Can you say that more briefly?", "Could you give one more example?"])
            turns += [{"from": "human", "value": follow},
                      {"from": "gpt", "value": "Certainly. " + rec["output"].split("\n")[0]}]
        if rng.random() < 0.3:
            turns.insert(0, {"from": "system", "value": "You are a concise, helpful assistant."})
        chats.append({"conversations": turns})
    chats += [chats[3], chats[11]]
    chats.append({"conversations": [{"from": "human", "value": "hello"}, {"from": "gpt", "value": ""}]})
    return chats


# Messy records for the cleaning recipe (recipes/clean.yaml): each line is a problem a cleaning
# step must catch, with the step that should catch it; GOOD records must survive every step.
NEAR_WORD = [
    ("Explain why the sky appears blue during the day.",
     "Sunlight is scattered by the molecules of the air, and blue light is scattered more than red light "
     "because of its shorter wavelength, so the sky appears blue."),
    ("Explain why the sky looks blue during the day.",
     "Sunlight is scattered by the molecules of the air, and blue light is scattered more than red light "
     "because of its shorter wavelength, so the sky appears blue."),
    ("Give three tips for staying focused while studying at home.",
     "1. Put your phone in another room.\n2. Work in blocks of 25 minutes with short breaks.\n"
     "3. Keep a single, tidy desk used only for studying."),
    ("Give three tips for staying focused while studying at home",
     "1. Put your phone in another room.\n2. Work in blocks of 30 minutes with short breaks.\n"
     "3. Keep a single, tidy desk used only for studying."),
]
MESSY = [
    ("dedup.near", *NEAR_WORD[1]), ("dedup.near", *NEAR_WORD[3]),
    ("filter.pii", "Draft a short note to my landlord about the broken heater.",
     "Dear Mr. Smith, the heater in flat 4 has been broken since Monday. Please call me at (555) 123-4567 "
     "or write to jane.doe@example.com to arrange a repair. Best regards, Jane."),
    ("filter.pii", "Fix the indentation of this config snippet.",
     "host: 10.0.0.12\nport: 8080\napi_key = 'A1b2C3d4E5f6G7h8I9j0K1l2'"),
    ("filter.refusal", "Write a limerick about a cat who loves cheese.",
     "I'm sorry, but I cannot write limericks. Is there anything else I can help you with?"),
    ("filter.repetition", "Give me advice on learning to play the guitar.",
     "Practice every day and you will improve. " * 8),
    ("filter.markup", "Write a Python function that doubles a number.",
     "Here is the function:\n```python\ndef double(x):\n    return x * 2\n"),
    ("filter.truncated", "Summarize the causes of the French Revolution.",
     "The French Revolution was driven by a fiscal crisis, resentment of the privileges of the nobility "
     "and clergy, poor harvests that raised the price of bread, and"),
    ("filter.long_lines", "Encode the word ABC in base64, repeated many times.", "QUJD" * 800),
    ("filter.chars", "Draw a small ASCII decoration.", "Here it is: $$$ ### @@@ *** ((( ))) {{{ }}} ||| ~~~ <<< >>> ^^^ %%%"),
    ("filter.trivial", "List the ingredients of a classic margherita pizza.", "N/A"),
    ("filter.echo", "Describe the water cycle in three sentences for a ten year old.",
     "Describe the water cycle in three sentences for a ten year old."),
    ("filter.language", "Was ist die Hauptstadt von Deutschland und wofür ist sie bekannt?",
     "Die Hauptstadt von Deutschland ist Berlin. Sie ist bekannt für ihre Geschichte, Museen und Kultur."),
    ("filter.decontaminate", "Quick quiz for the class: at sea level, what is the boiling point of water in "
     "degrees Celsius? Answer in one word.", "100"),
]
GOOD = [
    ("Name the only even prime number.", None, "2"),
    ("What is the capital of Japan?", None, "Tokyo"),
    ("According to the passage, when did the museum open?",
     "The city museum opened in 1902 and was enlarged in 1955.", "1902"),
    ("Write a Python function that returns the square of a number.", None,
     "```python\ndef square(x):\n    return x * x\n```"),
    ("List three primary colors.", None, "- red\n- blue\n- yellow"),
    ("Explain what erosion is in one sentence.", None,
     "Erosion is the slow wearing away of rock and soil by water, wind and ice."),
    *[(q, None, a) for q, a in NEAR_WORD[::2]],
]


def build_messy() -> list[dict]:
    rows = [{"instruction": q, "input": c or "", "output": a, "expect": "keep"} for q, c, a in GOOD]
    rows += [{"instruction": q, "input": "", "output": a, "expect": step} for step, q, a in MESSY]
    return rows


SENTIMENT_ASK = ["Classify the sentiment of the sentence as positive or negative.",
                 "Is the sentiment of this review positive or negative?",
                 "Label the sentence positive or negative."]
SUBJECTS = ["The soundtrack", "The lead actor", "The plot", "The final act", "The dialogue", "The camera work",
            "The pacing", "The ending", "The script", "The cast", "The opening scene", "The humour"]
GOOD_WORDS = ["wonderful", "moving", "sharp", "delightful", "gripping", "warm", "clever", "beautiful", "brilliant",
              "charming"]
BAD_WORDS = ["dull", "clumsy", "tedious", "flat", "forgettable", "grating", "lifeless", "muddled", "tiresome",
             "shallow"]


def build_sentiment(n: int = 400) -> list[dict]:
    """Sentiment drills with one-word answers, for the README's `curate compare` example: short
    made-up review sentences, so none is an Instruction-Induction `sentiment` eval item (those
    are Stanford Sentiment Treebank sentences; tests/test_shared_data.py checks)."""
    drills = random.Random(11)
    rows = []
    for i in range(n):
        label = "positive" if i % 2 else "negative"
        words = GOOD_WORDS if label == "positive" else BAD_WORDS
        first, second = drills.sample(words, 2)
        sentence = f"{drills.choice(SUBJECTS)} was {first} and {second}."
        rows.append({"instruction": drills.choice(SENTIMENT_ASK), "input": sentence, "output": label})
    return rows


def write(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    write(OUT / "sample.jsonl", build_alpaca())
    write(OUT / "sample_chat.jsonl", build_chat())
    write(OUT / "sample_eval.jsonl", EVAL)
    write(OUT / "sample_messy.jsonl", build_messy())
    write(OUT / "sample_sentiment.jsonl", build_sentiment())
    print(f"wrote sample.jsonl, sample_chat.jsonl, sample_eval.jsonl, sample_messy.jsonl and sample_sentiment.jsonl "
          f"in {OUT}")
