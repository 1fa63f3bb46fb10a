"""Onboarding a real tenant: checking its setup (``doctor``) and learning what its records hold (``discover``)."""
