"""Simulated drifted SMS traffic: modern scam families and benign shifts, deterministic per seed.

Owns the message templates and the mixing of generated messages into clean traffic, for
``scripts/inject_drift.py``, ``spamops simulate``, the demo and the drift benchmark. Each
generated message carries its true label (scams are ``spam``, benign shifts are ``ham``) and
its family. Pure: no I/O, no clock, no model. The drift detector must never import this
module: its vocabulary is what the detector is tested *against*, not tuned to.
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from dataclasses import dataclass

SPAM = "spam"
HAM = "ham"


@dataclass(frozen=True)
class LabelledMessage:
    """One message with its true label and where it came from."""

    text: str
    label: str
    """``ham`` or ``spam``."""
    family: str
    """Generator family (``crypto``, ``parcel``, ...) or ``clean`` for real held-out traffic."""


_SLOTS: dict[str, tuple[str, ...]] = {
    "name": ("Sarah", "Tom", "Priya", "Jake", "Aisha", "Liam", "Mei", "Carlos", "Zoe", "Omar"),
    "coin": ("Bitcoin", "BTC", "ETH", "Ethereum", "Solana", "USDT", "Dogecoin", "XRP"),
    "nft": ("NFT", "NFT drop", "metaverse land", "Web3 token", "NFT collection"),
    "pct": ("300%", "250%", "10x", "500%", "20x", "180%"),
    "courier": ("Royal Mail", "DPD", "Evri", "DHL", "UPS", "FedEx", "Parcelforce", "USPS"),
    "bank": ("Barclays", "HSBC", "Lloyds", "NatWest", "Santander", "Monzo", "Chase", "Revolut"),
    "tax": ("HMRC", "IRS", "Tax Office", "GOV.UK"),
    "job": ("remote", "part-time", "work from home", "online", "flexible"),
    "app": ("WhatsApp", "Telegram", "Signal"),
    "tld": (".xyz", ".top", ".info", ".co", ".online", ".site", ".live"),
    "show": ("the new season", "that Netflix doc", "the finale", "the anime", "the podcast"),
    "game": ("Fortnite", "Valorant", "Minecraft", "FIFA", "Elden Ring", "Zelda"),
    "place": ("the gym", "Tesco", "the office", "uni", "the station", "brunch", "the cafe"),
    "day": ("Monday", "Tuesday", "Friday", "Saturday", "Sunday", "tonight", "tomorrow"),
    "slang": ("no cap", "lowkey", "fr fr", "bussin", "ngl", "deadass", "slay", "vibe check"),
    "parent": ("mum", "mom", "dad", "mam", "mummy"),
    "mishap": ("dropped my phone in the toilet", "smashed my screen", "lost my phone on the bus",
               "had my phone stolen", "broke my phone"),
    "tech": ("ChatGPT", "the new iPhone", "my smartwatch", "the VR headset", "AirPods", "Zoom"),
}

_FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "crypto": (SPAM, (
        "Earn {pct} returns on {coin} in 7 days. Our AI trading bot is guaranteed. Join {url}",
        "{name} made £{amount} with {coin} staking this week! Start with just £250: {url}",
        "Your {coin} wallet has been credited with {small} {coin}. Claim before it expires {url}",
        "Exclusive {nft} whitelist open now. Mint early and flip for {pct} profit {url}",
        "Crypto investment opportunity: double your {coin} in 48h, text INVEST to {short}",
        "Last chance! {nft} presale ends {day}. Connect your wallet at {url}",
    )),
    "parcel": (SPAM, (
        "{courier}: your parcel could not be delivered. Reschedule and pay £{fee} fee at {url}",
        "{courier}: package {code} is held at our depot. Confirm your address: {url}",
        "We missed you! A redelivery fee of £{fee} is due for parcel {code}. Pay now {url}",
        "Your {courier} delivery is on hold due to unpaid customs duty. Settle at {url}",
    )),
    "bank": (SPAM, (
        "{bank}: a new device tried to log in to your account. If this was NOT you visit {url}",
        "{bank} ALERT: your card has been suspended. Verify your details at {url} to restore",
        "Your {bank} one-time passcode is {otp}. Never share it. Not you? Call {phone}",
        "{bank}: payment of £{amount} to {name} flagged. Cancel it here {url}",
        "Security notice: unusual activity on your {bank} account. Secure it now: {url}",
    )),
    "tax": (SPAM, (
        "{tax}: you are eligible for a tax refund of £{amount}. Claim online at {url}",
        "{tax} notice: your refund of £{amount} is pending. Submit your bank details: {url}",
        "Final reminder from {tax}: unclaimed rebate £{amount}. Apply before {day} {url}",
    )),
    "job": (SPAM, (
        "Hi, we saw your CV! {job} job, £{daily}/day, no experience needed. Reply on {app} {phone}",
        "Recruiter here: {job} role liking videos for £{daily} a day. Message us on {app}",
        "Easy {job} work: rate products from your phone and earn £{daily} daily. {url}",
        "Hiring now! {job} assistant, paid daily via bank transfer. Contact HR on {app} {phone}",
    )),
    "mum": (SPAM, (
        "Hi {parent}, I {mishap}, this is my new number. Text me on {app}?",
        "Hey {parent} it's me, new phone! Can you help me pay a bill of £{amount}, I'll pay back",
        "Hi {parent}, I {mishap} so using a friend's. Need £{amount} for rent, can you send?",
        "{parent} its {name}, I {mishap}. Please save this number and message me on {app}",
    )),
    "benign_topics": (HAM, (
        "Did you watch {show}? Still thinking about it, proper good",
        "Asked {tech} to plan our trip lol, it actually did a decent job",
        "Can't make {place} {day}, stuck on a Zoom call till 7",
        "Playing {game} later if you want to join, I'll send a Discord invite",
        "My smartwatch says I did 12k steps today, feeling smug",
        "Just paid you back on Monzo for the pizza, ta",
        "Remote work again {day}, might go to {place} after",
        "Sending you the Spotify playlist from the road trip",
    )),
    "benign_slang": (HAM, (
        "That party was bussin {slang}",
        "{slang} I'm so done with this week, see you at {place}?",
        "ngl {show} was mid but the ending slapped",
        "omw to {place}, {slang}, be there in 10",
        "lowkey want bubble tea after {place}, u in?",
        "she posted the pics on her story, it's giving main character energy",
        "bruh the group chat is wild rn {slang}",
    )),
}

SCAM_FAMILIES: tuple[str, ...] = ("crypto", "parcel", "bank", "tax", "job", "mum")
"""Generated families labelled ``spam``."""
BENIGN_FAMILIES: tuple[str, ...] = ("benign_topics", "benign_slang")
"""Generated families labelled ``ham``: new topics and slang in legitimate messages."""
FAMILIES: tuple[str, ...] = SCAM_FAMILIES + BENIGN_FAMILIES


def _fill(template: str, rng: random.Random) -> str:
    def pick(slot: str) -> str:
        return rng.choice(_SLOTS[slot])

    domain = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 9)))
    values = {slot: pick(slot) for slot in _SLOTS if "{" + slot + "}" in template}
    values.update(
        url=f"https://{domain}{pick('tld')}/{''.join(rng.choices(string.ascii_letters, k=5))}",
        amount=str(rng.choice((120, 250, 480, 650, 1200, 2500, 3400, 9800))),
        small=f"{rng.uniform(0.01, 2.5):.3f}",
        fee=f"{rng.choice((1, 2, 2, 3))}.{rng.choice(('45', '99', '50', '10'))}",
        code="".join(rng.choices(string.ascii_uppercase + string.digits, k=10)),
        otp=f"{rng.randint(0, 999999):06d}",
        phone=f"+44 7{rng.randint(100, 999)} {rng.randint(100000, 999999)}",
        short=str(rng.randint(60000, 89999)),
        daily=str(rng.choice((80, 120, 150, 200, 300, 450))),
    )
    return template.format(**values)


def generate(n: int, *, seed: int, families: Sequence[str] = FAMILIES) -> list[LabelledMessage]:
    """``n`` generated messages, families in turn-ish (random but balanced), same for a seed."""
    unknown = [f for f in families if f not in _FAMILIES]
    if unknown:
        raise ValueError(f"unknown traffic families: {unknown}; known: {list(FAMILIES)}")
    if not families:
        raise ValueError("at least one family is needed")
    rng = random.Random(seed)
    out = []
    for i in range(n):
        family = families[i % len(families)] if i < len(families) else rng.choice(families)
        label, templates = _FAMILIES[family]
        out.append(LabelledMessage(_fill(rng.choice(templates), rng), label, family))
    rng.shuffle(out)
    return out


def mix(clean_texts: Sequence[str], clean_labels: Sequence[str] | None, *, n: int,
        fraction: float, seed: int,
        families: Sequence[str] = FAMILIES) -> list[LabelledMessage]:
    """A window of ``n`` messages: ``round(n * fraction)`` generated, the rest clean.

    Clean messages are sampled without replacement while there are enough, with replacement
    otherwise (held-out data is scarce). The result is shuffled, deterministic for a seed.
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    n_drift = round(n * fraction)
    n_clean = n - n_drift
    if n_clean and not clean_texts:
        raise ValueError("clean messages are needed when fraction < 1")
    labels = list(clean_labels) if clean_labels is not None else [HAM] * len(clean_texts)
    if len(labels) != len(clean_texts):
        raise ValueError("clean_texts and clean_labels differ in length")
    rng = random.Random(seed)
    indices = list(range(len(clean_texts)))
    if n_clean <= len(indices):
        chosen = rng.sample(indices, n_clean)
    else:
        chosen = rng.choices(indices, k=n_clean)
    window = [LabelledMessage(clean_texts[i], labels[i], "clean") for i in chosen]
    window += generate(n_drift, seed=rng.randrange(2**31), families=families)
    rng.shuffle(window)
    return window
