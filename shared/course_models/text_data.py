"""Seeded customer-support messages with four intents, for the lab 3 transformer (no downloads).

Each message is built from an intent's templates, a product, optional greeting/sign-off, and
a few noise steps a real inbox has: typos (a swapped or dropped letter), lower case, no final
punctuation, and an unrelated clause. Some templates negate another intent on purpose
("I don't want to cancel, I was charged twice" is ``billing``), so a bag of keywords is not
enough. Same seed, same messages: the splits are a pure function of ``(n, seed)``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

INTENTS = ("cancel", "billing", "technical", "praise")

PRODUCTS = (
    "the app", "my subscription", "the premium plan", "the router", "my account",
    "the family plan", "the mobile app", "the desktop client", "the smart speaker",
    "the fibre package", "my membership", "the cloud backup",
)  # fmt: skip

TEMPLATES: dict[str, tuple[str, ...]] = {
    "cancel": (
        "I want to cancel {p}",
        "please cancel {p} today",
        "how do I close {p} for good",
        "stop my renewal for {p}, I am leaving",
        "I would like to end {p} at the end of the month",
        "terminate {p} immediately",
        "I'm done with {p}, cancel it",
        "can you unsubscribe me from {p}",
        "I no longer need {p}, please shut it down",
        "delete {p} and stop all future payments",
        "I'm moving to another provider, close {p}",
        "no more {p} for me, cancel please",
    ),
    "billing": (
        "I was charged twice for {p}",
        "why is my invoice for {p} so high this month",
        "the payment for {p} failed but money left my bank",
        "I need a refund for {p}",
        "can I get a receipt for {p}",
        "my card was billed after I paid for {p}",
        "there is a fee on my bill for {p} I do not recognise",
        "update the credit card used for {p}",
        "I don't want to cancel {p}, but the price went up without notice",
        "how much does {p} cost per year",
        "the discount on {p} was not applied to my invoice",
        "please explain the extra charge for {p}",
    ),
    "technical": (
        "{p} keeps crashing when I open it",
        "I can't log in to {p}",
        "{p} is not working since the update",
        "error 500 every time I use {p}",
        "{p} is very slow and freezes",
        "the connection drops on {p} every few minutes",
        "{p} won't sync my files",
        "I get a blank screen in {p}",
        "{p} does not turn on anymore",
        "the password reset link for {p} is broken",
        "not a billing question: {p} shows an error code",
        "{p} disconnects and I have to restart it",
    ),
    "praise": (
        "I love {p}, great job",
        "thank you, {p} works perfectly",
        "{p} is the best thing I bought this year",
        "your support team fixed {p} so fast, thanks",
        "really happy with {p}",
        "I don't want to cancel {p}, it is excellent",
        "five stars for {p}",
        "{p} is fantastic, keep it up",
        "just wanted to say {p} is amazing",
        "great service, {p} never lets me down",
        "I recommend {p} to all my friends",
        "no complaints at all, {p} is wonderful",
    ),
}

GREETINGS = ("", "", "", "hi, ", "hello, ", "hey team, ", "good morning, ", "dear support, ")
SIGN_OFFS = ("", "", "", " thanks", " thank you", " regards", " cheers", " asap")
FILLERS = ("", "", "", "", " I have been a customer for years.", " my order number is 4471.")


@dataclass(frozen=True)
class Splits:
    """Texts and integer labels (index into ``INTENTS``) for train, validation and test."""

    train: tuple[list[str], list[int]]
    validation: tuple[list[str], list[int]]
    test: tuple[list[str], list[int]]


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 2)
    if rng.random() < 0.5:  # swap two neighbours
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + word[i + 1 :]  # drop one letter


def _noise(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(rng.choice((0, 0, 1, 1, 2))):
        k = rng.randrange(len(words))
        words[k] = _typo(words[k], rng)
    text = " ".join(words)
    if rng.random() < 0.3:
        text = text.lower()
    elif rng.random() < 0.5:
        text = text[:1].upper() + text[1:]
    return text + rng.choice(("", ".", ".", "!", "?", "..."))


def message(intent: str, rng: random.Random) -> str:
    """One message of ``intent``: greeting + template(product) + filler + sign-off + noise."""
    body = rng.choice(TEMPLATES[intent]).format(p=rng.choice(PRODUCTS))
    text = rng.choice(GREETINGS) + body + rng.choice(FILLERS) + rng.choice(SIGN_OFFS)
    return _noise(text, rng)


def make_messages(n: int, seed: int) -> tuple[list[str], list[int]]:
    """``n`` messages, intents balanced and shuffled."""
    rng = random.Random(seed)
    labels = [i % len(INTENTS) for i in range(n)]
    rng.shuffle(labels)
    return [message(INTENTS[k], rng) for k in labels], labels


def support_splits(seed: int, train: int = 800, validation: int = 200, test: int = 400) -> Splits:
    """Three independent draws (different sub-seeds), so no split is a copy of another's rows."""
    return Splits(
        make_messages(train, seed),
        make_messages(validation, seed + 1),
        make_messages(test, seed + 2),
    )
