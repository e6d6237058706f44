"""A Flask app behind the gate: `waitress-serve examples.flask_app:app` (or `flask run`).

Needs JWE_GATE_KEYS (create with `jwe-gate keygen`).
"""

from typing import Any

from flask import Flask, jsonify, request

from jwe_gate import Gate, KeyRing, Rule, SQLiteBackend, Table

flask_app = Flask(__name__)


@flask_app.get("/health")
def health() -> Any:
    return jsonify(status="ok")


@flask_app.get("/api/hello")
def hello() -> Any:
    user = request.environ["jwe_gate.user"]
    return jsonify(hello=user.display_name, scopes=request.environ["jwe_gate.auth"].scopes)


@flask_app.get("/blog/<slug>")
def blog(slug: str) -> Any:
    user = request.environ["jwe_gate.user"]  # anonymous or a user: the rule is optional
    return jsonify(slug=slug, reader=user.identity or None)


gate = Gate(
    keys=KeyRing.from_env(),
    tables=[Table("user", SQLiteBackend("example.db"))],
    rules=[Rule("/health", "public"), Rule("/blog/**", "optional", methods=["GET"])],
    auth_routes={"/auth": "user"},
)

# Wrap the WSGI callable, keep the Flask object for its decorators.
flask_app.wsgi_app = gate.wsgi(flask_app.wsgi_app)  # type: ignore[method-assign]
app = flask_app
