"""The views the in-process Django tests route to."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from jwe_gate._sansio.http import Response
from jwe_gate.integrations.django import to_django


def who(request: HttpRequest, **kwargs: Any) -> JsonResponse:
    user: Any = request.user
    auth: Any = getattr(request, "auth", None)
    return JsonResponse(
        {
            "authenticated": user.is_authenticated,
            "anonymous": user.is_anonymous,
            "class": type(user).__name__,
            "pk": user.pk,
            "id": user.id,
            "username": user.get_username(),
            "str": str(user),
            "active": user.is_active,
            "staff": user.is_staff,
            "superuser": user.is_superuser,
            "perm": user.has_perm("blog.add_post"),
            "perms": user.has_perms(["blog.add_post", "blog.delete_post"]),
            "module": user.has_module_perms("blog"),
            "scopes": list(auth.scopes) if auth is not None else None,
            "table": auth.table if auth is not None else None,
            "path_info": request.path_info,
        }
    )


def staff(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    if not user.is_staff:
        return JsonResponse({"staff": False}, status=403)
    return JsonResponse({"staff": True})


COOKIE_LINES = (
    "a=1; Path=/; HttpOnly",
    "b=2; Path=/x; Secure; HttpOnly; SameSite=Lax; Partitioned",
    "a=; Path=/old; Max-Age=0",
)


def cookies(request: HttpRequest) -> HttpResponse:
    """The gate's kind of response with three Set-Cookie lines (two for one name)."""
    lines = tuple(("set-cookie", line) for line in COOKIE_LINES)
    return to_django(
        Response(
            200,
            (("content-type", "text/plain"), *lines, ("vary", "Origin"), ("vary", "Cookie")),
            b"ok",
        )
    )


async def async_who(request: HttpRequest) -> JsonResponse:
    return who(request)


@login_required  # type: ignore[untyped-decorator]
@permission_required("blog.add_post", raise_exception=True)  # type: ignore[untyped-decorator]
async def async_guarded(request: HttpRequest) -> JsonResponse:
    """Django's own decorators on an async view: they await request.auser()."""
    user: Any = await request.auser()
    return JsonResponse({"user": user.get_username()})


@login_required  # type: ignore[untyped-decorator]
@permission_required("blog.add_post", raise_exception=True)  # type: ignore[untyped-decorator]
def guarded(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": request.user.get_username()})


urlpatterns = [
    path("health", who),
    path("api/me", who),
    path("api/async", async_who),
    path("api/post", who),
    path("blog/<slug:slug>", who),
    path("staff", staff),
    path("cookies", cookies),
    path("guarded", guarded),
    path("guarded-async", async_guarded),
]
