"""Signed model updates: bundles, the on-device store, validation, hot swap.

    bundle dir/.tar ──> archive (safe unpack) ──> bundle (Ed25519 signature, sha256
    and size of every file) ──> store (versions side by side, atomic active.json)
    ──> compat + validate (golden outputs, latency budget on this device)
    ──> manager (hot swap, probation, automatic rollback; reports model/state)

The bundle format is described in docs/bundles.md.
"""
