"""A Django app for the tests: a second model, so two gate tables live on two models."""
