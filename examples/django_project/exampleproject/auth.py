"""The gate: the project's user model as its `user` table, Django's hashes verified and
upgraded to argon2id at the next login."""

from jwe_gate import Gate, KeyRing, Rule, Table
from jwe_gate.integrations.django import DjangoBackend, hasher

gate = Gate(
    keys=KeyRing.from_env(),  # JWE_GATE_KEYS: a JWK Set (`jwe-gate keygen`)
    tables=[Table("user", DjangoBackend())],  # get_user_model(), through the ORM
    rules=[Rule("/", "public")],  # everything else: a valid user token (the default)
    auth_routes={"/auth": "user"},  # /auth/signup, /auth/login, /auth/me, ...
    hasher=hasher(),  # argon2id, and Django's PBKDF2 (etc.) verified, then upgraded
)
