"""Test helpers shared by the suites (the fixtures built on them live in ``tests/conftest.py``).

- :mod:`support.results`: what a raw client returns, and the ``RawClient`` protocol.
- :mod:`support.apps`: the real Starlette and Flask apps, their users/admins and default rules.
- :mod:`support.clients`: the raw ASGI/WSGI clients and :func:`~support.clients.wrap`.
- :mod:`support.spies`: a spying ``Hasher`` and a clock moved by hand.
- :mod:`support.servers`: a real uvicorn or waitress server in a thread.
- :mod:`support.matrix`: the router x server matrix: one gated app per framework, and the real
  servers (subprocesses) that run them.
- :mod:`support.cross_origin`: the cross-origin APIs (Starlette, FastAPI; Django in
  :mod:`support.cross_origin_django`), the page's static server, and the browser driving it.
- :mod:`support.stores`: the store protocols with the bundled stores' inspection methods.
"""
