"""A public view, a protected one reading request.user, and a staff-only one."""

from typing import Any

from django.http import HttpRequest, JsonResponse


def _where(request: HttpRequest) -> dict[str, str]:
    return {"path": request.path, "path_info": request.path_info}


def index(request: HttpRequest) -> JsonResponse:
    """Public: anyone, with Django's AnonymousUser when no token came."""
    user: Any = request.user
    return JsonResponse({"hello": "world", "user": str(user), **_where(request)})


def hello(request: HttpRequest) -> JsonResponse:
    """Protected by the gate's default rule: request.user is the token's user."""
    user: Any = request.user
    auth: Any = request.auth  # type: ignore[attr-defined]
    return JsonResponse(
        {
            "hello": user.get_username(),
            "id": user.pk,
            "staff": user.is_staff,
            "scopes": list(auth.scopes),
            **_where(request),
        }
    )


def staff(request: HttpRequest) -> JsonResponse:
    """Staff only: the gate lets any user in, the view checks Django's flag."""
    user: Any = request.user
    if not user.is_staff:
        return JsonResponse({"detail": "staff only"}, status=403)
    return JsonResponse({"staff": user.get_username()})
