"""Permissions: every tool call passes through `Policy.decide` before it runs."""

from agent_kernel.policy.decide import Decision, Policy

__all__ = ["Decision", "Policy"]
