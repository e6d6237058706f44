"""Token crypto: the key ring and the compact-JWE codec. The only package that imports jwcrypto."""

from .codec import DEFAULT_ALGORITHMS, PASSWORD_STAMP, TokenCodec, thaw
from .inspection import inspect_token
from .keys import KeyRing

__all__ = ["DEFAULT_ALGORITHMS", "PASSWORD_STAMP", "KeyRing", "TokenCodec", "inspect_token", "thaw"]
