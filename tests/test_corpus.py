"""The regression corpus in counterexamples/ replays and still matches the bundled models."""

from polykfunc.counterexamples.regression import CORPUS, check_corpus


def test_the_corpus_exists():
    assert CORPUS.is_dir() and any(CORPUS.rglob("*.json"))


def test_every_corpus_entry_replays_and_matches_its_model():
    problems = check_corpus()
    assert [str(p) for p in problems] == []
