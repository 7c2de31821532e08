"""The proof engine: z3 encoding (solver), the prover, results, the proof cache, the verdict matrix,
and the counterexamples it builds (witness), explains (explanation) and replays (replay).

Imports only polykfunc.properties, polykfunc.model and polykfunc.errors.
"""
