"""``request.user`` for a request the gate authenticated: what Django code and templates
check, read from the gate's record and scopes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..._sansio.user import AuthInfo, AuthUser

__all__ = ["GateUser"]


class GateUser:
    """The user of a request carrying a valid token, as ``request.user``.

    It is not a model instance: it answers what Django code asks of a user from the record
    the gate resolved (``is_staff``, ``is_superuser`` and ``is_active`` are the record's
    fields when the table has them, False / False / True otherwise) and the token's scopes.

    Permissions: an active superuser has every permission (as Django's ``ModelBackend``
    says); anyone else has exactly the permissions named by the gate's scopes
    (``request.auth.scopes``: the token's ``extras["role"]`` and ``extras["scopes"]``, or what
    ``Gate(scopes=...)`` derives), so ``extras={"scopes": ["blog.add_post"]}`` grants
    ``has_perm("blog.add_post")``. Django's group and per-user permission tables are not read.
    """

    __slots__ = ("_user", "auth")

    is_authenticated = True
    is_anonymous = False

    def __init__(self, user: AuthUser, auth: AuthInfo) -> None:
        self._user = user
        self.auth = auth
        """How the request was authenticated (also ``request.auth``)."""

    # -- what Django's auth code reads ----------------------------------------------------

    @property
    def pk(self) -> Any:
        """The record's id (an int for integer keys)."""
        return self._user.record["id"]

    @property
    def id(self) -> Any:
        return self.pk

    @property
    def is_active(self) -> bool:
        return self._flag("is_active", default=True)

    @property
    def is_staff(self) -> bool:
        return self._flag("is_staff", default=False)

    @property
    def is_superuser(self) -> bool:
        return self._flag("is_superuser", default=False)

    def get_username(self) -> str:
        """The record's ``username``, else its login (``email``), else the id."""
        for key in ("username", "email"):
            value = self._user.record.get(key)
            if isinstance(value, str) and value:
                return value
        return self._user.identity

    @property
    def username(self) -> str:
        return self.get_username()

    def get_full_name(self) -> str:
        return self._user.display_name

    def get_short_name(self) -> str:
        return self._user.display_name

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        """Active superusers have every permission; others those their scopes name."""
        if not self.is_active:
            return False  # as Django: an inactive user has no permission at all
        return self.is_superuser or perm in self.auth.scopes

    def has_perms(self, perm_list: Iterable[str], obj: Any = None) -> bool:
        if isinstance(perm_list, str):  # as Django: a bare string is a mistake, not one perm
            raise ValueError("perm_list must be an iterable of permissions.")
        return all(self.has_perm(p, obj) for p in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        """Whether any scope names a permission of ``app_label`` (``"<app_label>.<...>"``)."""
        if not self.is_active:
            return False
        return self.is_superuser or any(s.startswith(app_label + ".") for s in self.auth.scopes)

    def get_all_permissions(self, obj: Any = None) -> set[str]:
        return {s for s in self.auth.scopes if "." in s} if self.is_active else set()

    # The async twins Django's async decorators call (``permission_required`` on an async
    # view awaits ``ahas_perms``); nothing here does I/O.

    async def ahas_perm(self, perm: str, obj: Any = None) -> bool:
        return self.has_perm(perm, obj)

    async def ahas_perms(self, perm_list: Iterable[str], obj: Any = None) -> bool:
        return self.has_perms(perm_list, obj)

    async def ahas_module_perms(self, app_label: str) -> bool:
        return self.has_module_perms(app_label)

    async def aget_all_permissions(self, obj: Any = None) -> set[str]:
        return self.get_all_permissions(obj)

    # -- the gate's view of the user -----------------------------------------------------------

    @property
    def record(self) -> Mapping[str, Any]:
        """The record, without its password hash or hidden fields."""
        return self._user.record

    @property
    def table(self) -> str:
        return self._user.table

    @property
    def extras(self) -> Mapping[str, Any]:
        return self._user.extras

    @property
    def identity(self) -> str:
        return self._user.identity

    @property
    def display_name(self) -> str:
        return self._user.display_name

    @property
    def auth_user(self) -> AuthUser:
        """The gate's own user object (what ASGI apps find in ``scope["user"]``)."""
        return self._user

    def __getitem__(self, key: str) -> Any:
        return self._user.record[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._user.record.get(key, default)

    def _flag(self, name: str, *, default: bool) -> bool:
        value = self._user.record.get(name, default)
        # bool or 0/1 (a SQLite column); anything else is not an answer.
        return bool(value) if isinstance(value, int) else default

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GateUser):
            return NotImplemented
        return (self.table, self.identity) == (other.table, other.identity)

    def __hash__(self) -> int:
        return hash((self.table, self.identity))

    def __str__(self) -> str:
        return self.get_username()

    def __repr__(self) -> str:
        return f"<GateUser {self.table}:{self.identity}>"
