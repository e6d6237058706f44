"""Framework integrations, each a thin layer over the gate: import the one you use
(``jwe_gate.integrations.fastapi``); each needs its framework's extra."""
