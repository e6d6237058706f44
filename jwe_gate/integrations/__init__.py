"""Framework integrations, each a thin layer over the gate: import the one you use
(``jwe_gate.integrations.fastapi``, ``jwe_gate.integrations.flask``); each needs its
framework's extra."""
