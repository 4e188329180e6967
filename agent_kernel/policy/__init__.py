"""Permissions: every tool call passes through `decide.DecisionPoint.decide` before it runs.

Submodules: `rules` (rule syntax), `settings` (`%config Policy.*`), `admin` (the locked
administrator policy), `decide` (the decision point), `spotlight` (untrusted text for the
model). Nothing is imported here, so `%load_ext` pays only for what it registers.
"""
