"""The ``jwe-gate`` command line (also ``python -m jwe_gate``).

Exit codes: 0 success; 1 the command ran but the answer is "no" (an invalid token for
``inspect``, an email already in use for ``adduser``, a mail server that could not be reached
or refused the mail for ``mailtest``); 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ._cli_mail import add_demo_smtp_options, add_mailtest_parser, demo_mail_options
from ._demo import DEMO_TABLES, redacted
from ._tokens import KeyRing, TokenCodec, inspect_token
from .exceptions import BackendError, ConfigurationError, JWEGateError, MailError

__all__ = ["main", "parse_duration"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class UsageError(Exception):
    """A bad argument: print it and exit 2."""


def parse_duration(text: str) -> float:
    """``"15m"`` -> 900.0; units s, m, h, d; a bare number is seconds."""
    match = _DURATION.fullmatch(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"invalid duration {text!r}: use e.g. 90, 15m, 2h, 30d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def load_keys(path: str | None) -> KeyRing:
    """Keys from ``--keys FILE``, else from the ``JWE_GATE_KEYS`` environment variable."""
    try:
        if path:
            return KeyRing.from_file(path)
        return KeyRing.from_env()
    except ConfigurationError as exc:
        raise UsageError(f"{exc} (pass --keys FILE or set JWE_GATE_KEYS)") from exc


# -- commands ------------------------------------------------------------------------------


def cmd_keygen(args: argparse.Namespace) -> int:
    if args.add:
        path = Path(args.add)
        try:
            ring = KeyRing.from_file(path).rotated(args.bits)
        except ConfigurationError as exc:
            raise UsageError(str(exc)) from exc
        try:
            ring.save(path)
        except OSError as exc:  # an unwritable file or directory: a message, not a traceback
            raise UsageError(f"cannot write key file {os.fspath(path)!r}: {exc}") from exc
        print(
            f"added key {ring.kids[0]} in front of {len(ring) - 1} older key(s) in {path}",
            file=sys.stderr,
        )
        return 0
    try:
        ring = KeyRing.generate(args.bits)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from exc
    if args.out is None:
        print(ring.to_json())
        return 0
    out = Path(args.out)
    if out.exists():  # never overwrite keys: every token minted with them would die
        raise UsageError(f"{out} exists; rotate it with --add {out}")
    try:
        ring.save(out)  # mode 0600
    except OSError as exc:
        raise UsageError(f"cannot write key file {os.fspath(out)!r}: {exc}") from exc
    print(f"wrote a new key set ({ring.kids[0]}) to {out}", file=sys.stderr)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    if not args.id.strip():  # sub "" mints a token that no gate would ever accept
        raise UsageError("--id is empty")
    codec = TokenCodec(load_keys(args.keys), issuer=args.issuer, audience=args.audience)
    try:
        extras = json.loads(args.extras) if args.extras else {}
    except ValueError as exc:
        raise UsageError(f"--extras is not valid JSON: {exc}") from exc
    if not isinstance(extras, dict):
        raise UsageError("--extras must be a JSON object")
    from ._gate import Gate
    from ._storage.memory import MemoryBackend
    from ._storage.table import Table

    gate = Gate(
        keys=codec.keys,
        tables=[Table(args.table, MemoryBackend())],
        issuer=args.issuer,
        audience=args.audience,
    )
    print(gate.issue(args.table, args.id, extras=extras, ttl=parse_duration(args.ttl)))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    codec = TokenCodec(
        load_keys(args.keys),
        issuer=args.issuer,
        audience=args.audience,
        leeway=args.leeway,
        algorithms=args.algorithms or ("A256KW", "A256CBC-HS512"),
    )
    token = args.token if args.token != "-" else sys.stdin.read().strip()
    scheme, _, rest = token.partition(" ")
    token = (rest if scheme.lower() == "bearer" else token).strip()
    report = inspect_token(codec, token, now=time.time())
    report["valid"] = report["problem"] is None
    claims = report.get("claims") or {}
    if isinstance(claims.get("exp"), int | float):
        report["expires_in"] = round(claims["exp"] - time.time())
    print(json.dumps(report, indent=2, default=str))
    return 0 if report["valid"] else 1


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password (again): ") != first:
        raise UsageError("the passwords do not match")
    return first


def cmd_adduser(args: argparse.Namespace) -> int:
    from ._demo import open_backend
    from ._endpoints.flow import Refused
    from ._endpoints.inputs import login_value
    from ._passwords import Hasher, PasswordPolicy
    from ._storage.table import Table
    from .exceptions import DuplicateRecordError

    backend = open_backend(args.db, args.db_prefix)
    table = Table(args.table, backend, login_field=args.login_field)
    try:  # the same checks as signup: a login the endpoints would refuse is never stored
        login = login_value({args.login_field: args.email}, args.login_field, table.normalize_login)
    except Refused as refused:
        raise UsageError(f"--email: {refused.error.message}") from None
    password = _read_password(args)
    problem = PasswordPolicy().problem(password)
    if problem:
        raise UsageError(problem)
    hasher = Hasher()
    try:
        record = table.create(
            {
                "name": args.name or "",
                args.login_field: login,
                table.password_field: hasher.hash(password),
            }
        )
    except DuplicateRecordError:
        print(f"error: {login} is already in use in table {args.table}", file=sys.stderr)
        return 1
    finally:
        hasher.close()
    print(f"added {args.table} {record['id']} ({login})")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from ._demo import open_refresh_store

    if not args.id.strip():
        raise UsageError("--id is empty")
    store = open_refresh_store(args.db, args.redis, args.redis_prefix, args.db_prefix)
    try:
        store.revoke_subject(args.table, args.id.strip())
    finally:
        store.close()
    print(f"ended every session of {args.table} {args.id.strip()}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import serve

    serve(
        host=args.host,
        port=args.port,
        db=args.db,
        keys=args.keys,
        wsgi=args.wsgi,
        redis=args.redis,
        redis_prefix=args.redis_prefix,
        db_prefix=args.db_prefix,
        query_token=args.query_token,
        cookies=args.cookies,
        mail=demo_mail_options(args),
    )
    return 0


# -- parser --------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jwe-gate", description="jwe_gate: keys, tokens, demo.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def keys_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--keys",
            metavar="FILE",
            help="JWK Set file (default: the JWE_GATE_KEYS environment variable)",
        )

    def db_prefix_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--db-prefix",
            default="",
            metavar="PREFIX",
            help="with a database URL: the start of every table name the gate makes",
        )

    def redis_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--redis",
            metavar="URL",
            help="keep sessions, the throttle and one-time tokens in Redis (redis://host:port/0)",
        )
        sp.add_argument(
            "--redis-prefix",
            default="jwe_gate:",
            metavar="PREFIX",
            help="the start of every Redis key (default jwe_gate:)",
        )

    k = sub.add_parser("keygen", help="print a new JWK Set, or rotate one with --add FILE")
    k.add_argument(
        "--add",
        metavar="FILE",
        help="put a new encryption key in front of the set in FILE (rewritten)",
    )
    k.add_argument("--bits", type=int, default=256, help="key size (default 256)")
    k.add_argument("--out", metavar="FILE", help="write the set to FILE (mode 0600), not stdout")
    k.set_defaults(func=cmd_keygen)

    t = sub.add_parser("token", help="mint an access token")
    t.add_argument("--table", required=True)
    t.add_argument("--id", required=True, help="the record id (the sub claim)")
    t.add_argument("--extras", help='JSON object, e.g. \'{"role": "admin"}\'')
    t.add_argument("--ttl", default="15m", help="lifetime: 90, 15m, 2h, 30d (default 15m)")
    t.add_argument("--issuer")
    t.add_argument("--audience")
    keys_arg(t)
    t.set_defaults(func=cmd_token)

    i = sub.add_parser("inspect", help="decrypt a token and say what is wrong with it")
    i.add_argument("token", help="the token ('-' reads standard input)")
    i.add_argument("--issuer")
    i.add_argument("--audience")
    i.add_argument("--leeway", type=float, default=30.0)
    i.add_argument(
        "--algorithms",
        nargs="+",
        metavar="NAME",
        help="accepted alg/enc names (default A256KW A256CBC-HS512)",
    )
    keys_arg(i)
    i.set_defaults(func=cmd_inspect)

    a = sub.add_parser("adduser", help="add a record to a table (asks for the password)")
    a.add_argument("--table", required=True, choices=DEMO_TABLES)
    a.add_argument("--email", required=True, help="the login value")
    a.add_argument("--name")
    a.add_argument("--login-field", default="email")
    a.add_argument(
        "--db", default=None, help="SQLite path or SQLAlchemy URL (default: the demo's database)"
    )
    db_prefix_arg(a)
    redis_arg(a)  # the same storage options as every command; adduser writes only the table
    a.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (for scripts)",
    )
    a.set_defaults(func=cmd_adduser)

    r = sub.add_parser("revoke", help="end every session of a record (its tokens stop working)")
    r.add_argument("--table", required=True, choices=DEMO_TABLES)
    r.add_argument("--id", required=True, help="the record id")
    r.add_argument(
        "--db", default=None, help="SQLite path or SQLAlchemy URL (default: the demo's database)"
    )
    db_prefix_arg(r)
    redis_arg(r)
    r.set_defaults(func=cmd_revoke)

    add_mailtest_parser(sub)

    d = sub.add_parser("demo", help="serve the demo app on 127.0.0.1:8000")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=8000)
    d.add_argument(
        "--db", default=None, help="SQLite path or SQLAlchemy URL (default .jwe_gate/demo.db)"
    )
    db_prefix_arg(d)
    d.add_argument(
        "--keys",
        metavar="FILE",
        help="JWK Set file (default .jwe_gate/keys.json, created on first run)",
    )
    d.add_argument(
        "--wsgi",
        action="store_true",
        help="serve the Flask version behind the WSGI middleware (waitress)",
    )
    d.add_argument(
        "--query-token",
        action="store_true",
        help="/api/** also accepts ?authtoken= (the token then shows in access logs)",
    )
    d.add_argument(
        "--cookies",
        action="store_true",
        help="the page uses the cookie transport (HttpOnly cookies, CSRF header); "
        "not with --query-token",
    )
    redis_arg(d)
    add_demo_smtp_options(d)
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BackendError as exc:
        # A database or Redis the command could not use: say which option named it.
        where = " / ".join(
            f"--{name} {redacted(value)}"
            for name, value in (
                ("db", getattr(args, "db", None)),
                ("redis", getattr(args, "redis", None)),
            )
            if value
        )
        print(f"error: {where or '--db'}: {exc}", file=sys.stderr)
        return 2
    except MailError as exc:  # unreachable or refused: the command ran, the answer is "no"
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except JWEGateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code
