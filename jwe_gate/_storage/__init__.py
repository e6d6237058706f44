"""Storage by technology: the protocols, ``Table`` (the invariants, once), the pure state
transitions stores share, and one module (or package) per technology."""
