"""Routes: / (public), /api/hello (any user), /staff (staff users)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.index),
    path("api/hello", views.hello),
    path("staff", views.staff),
]
