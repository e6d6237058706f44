"""A minimal Django project behind jwe_gate (see README.md beside it)."""
