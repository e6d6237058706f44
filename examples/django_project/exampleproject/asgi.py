"""ASGI: `uvicorn exampleproject.asgi:application` (the middleware runs async there)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exampleproject.settings")
application = get_asgi_application()
