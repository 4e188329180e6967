"""The sandbox for agent code: `run_python` runs in a forked, confined child of the kernel.

Submodules: `confine` (what the child loses: secrets, network, writes), `transfer` (values
that come back, unpickled with an allow-list so nothing executes in the kernel), `fork` (the
child's life and the pipe back). Nothing is imported here, so `%load_ext` stays fast.
"""
