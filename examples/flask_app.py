"""A Flask app, organised in blueprints, behind the gate (``jwe_gate.integrations.flask``).

Run it (``pip install 'jwe_gate[flask]' waitress``)::

    export JWE_GATE_KEYS="$(jwe-gate keygen)"   # optional: without it, keys live until exit
    waitress-serve --listen=127.0.0.1:8000 examples.flask_app:app

Then sign up, and call a protected route with the token::

    curl -X POST localhost:8000/auth/signup -H 'content-type: application/json' \\
         -d '{"name": "Ann", "email": "ann@example.com", "password": "secret123"}'
    curl localhost:8000/api/me -H "Authorization: Bearer <authToken>"

Records live in the SQLite file named by ``EXAMPLE_DB`` (default ``example.db``).
"""

import os
from typing import Any

from flask import Blueprint, Flask

from jwe_gate import Gate, KeyRing, Rule, SQLiteBackend, Table
from jwe_gate.integrations.flask import (
    current_auth,
    current_user,
    install,
    login_required,
    requires,
    static_rules,
)

# --- the app: plain Flask, in blueprints -----------------------------------------------------

app = Flask(__name__)  # serves ./static/ at /static/ (made public below by static_rules)

api = Blueprint("api", __name__)  # the gate's default protects it: a token is required
blog = Blueprint("blog", __name__)  # an "optional" rule: anyone reads, readers may log in


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@api.get("/me")
def me() -> dict[str, Any]:
    # The gate only lets an authenticated request reach /api/**: current_user is the record.
    return {"name": current_user.display_name, "scopes": list(current_auth.scopes)}


@api.get("/admin")
@requires("admin")  # 403 unless the token's extras give the "admin" scope (role: admin)
def admin() -> dict[str, str]:
    return {"role": "admin", "id": current_user.identity}


@blog.get("/posts")
def posts() -> dict[str, Any]:
    # Anonymous readers are welcome here: current_user is AnonymousUser for them.
    reader = current_user.display_name if current_user.is_authenticated else None
    return {"posts": ["Hello, world"], "reader": reader}


@blog.get("/drafts")
@login_required  # the rule lets anonymous through; this view says no (401)
def drafts() -> dict[str, Any]:
    return {"drafts": [], "author": current_user.display_name}


app.register_blueprint(api, url_prefix="/api")
app.register_blueprint(blog, url_prefix="/blog")

# --- the gate: keys, the user table, the rules -----------------------------------------------

# Keys from JWE_GATE_KEYS (`jwe-gate keygen`), or fresh ones: tokens then end with the process.
keys = KeyRing.from_env() if os.environ.get("JWE_GATE_KEYS") else KeyRing.generate()

gate = Gate(
    keys=keys,
    tables=[Table("user", SQLiteBackend(os.environ.get("EXAMPLE_DB", "example.db")))],
    rules=[
        *static_rules(app),  # GET /static/** public (after the blueprints: it reads them too)
        Rule("/health", "public"),
        Rule("/blog/**", "optional"),
    ],  # everything else, /api/** included, needs a user token
    auth_routes={"/auth": "user"},  # signup, login, me, refresh, logout, password
)

# Wrap app.wsgi_app: `app` stays the Flask object (decorators, CLI, test client) and is the
# WSGI callable servers run.
install(app, gate)
