"""The auth endpoints (SPEC §Handlers), one module per concern: the registry, the flow
machinery, input parsing, the throttle, sessions, and the account endpoints. The service wires
them for one table."""
