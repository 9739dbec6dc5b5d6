"""The drifted-traffic generator: deterministic, labelled, varied, mixable."""

from __future__ import annotations

import pytest

from engine.traffic import BENIGN_FAMILIES, FAMILIES, SCAM_FAMILIES, generate, mix


def test_same_seed_same_messages_other_seed_other_messages() -> None:
    assert generate(50, seed=1) == generate(50, seed=1)
    assert generate(50, seed=1) != generate(50, seed=2)


def test_every_family_appears_with_its_true_label() -> None:
    messages = generate(len(FAMILIES) * 20, seed=0)
    assert {m.family for m in messages} == set(FAMILIES)
    for m in messages:
        assert m.label == ("spam" if m.family in SCAM_FAMILIES else "ham")
        assert "{" not in m.text and m.text.strip()
    assert set(BENIGN_FAMILIES) <= {m.family for m in messages if m.label == "ham"}


def test_slots_make_texts_vary() -> None:
    scams = [m for m in generate(300, seed=4) if m.label == "spam"]
    assert len({m.text for m in scams}) > 0.95 * len(scams)


def test_mix_has_the_requested_fraction_and_keeps_clean_labels() -> None:
    clean = [f"clean message {i}" for i in range(100)]
    labels = ["spam" if i % 10 == 0 else "ham" for i in range(100)]
    window = mix(clean, labels, n=200, fraction=0.25, seed=3)
    assert len(window) == 200
    assert sum(m.family != "clean" for m in window) == 50
    for m in window:
        if m.family == "clean":
            assert m.label == labels[clean.index(m.text)]
    assert window == mix(clean, labels, n=200, fraction=0.25, seed=3)


def test_mix_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError):
        mix(["a"], None, n=10, fraction=1.5, seed=0)
    with pytest.raises(ValueError):
        mix([], None, n=10, fraction=0.5, seed=0)
    with pytest.raises(ValueError):
        generate(3, seed=0, families=["nope"])
