"""Counterexamples after the proof: the versioned store, the regression corpus, operations on stored
entries, their text, graph and export forms, and the full-screen explorer.

Imports the engine and the layers below it.
"""
