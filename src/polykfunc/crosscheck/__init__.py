"""Checking the checker: concrete resolvers, Hypothesis strategies and fuzzing, brute-force
enumeration (explicit-state search) and the mutation score, all against the SMT model.

Imports counterexamples, the engine and the layers below it.
"""
