"""Signals the classifier sends, so that the platform can audit model changes
without the classifier importing it."""

from django.dispatch import Signal

# Sent inside the transaction that changed a version's status, with
# version, previous_status, actor (a user or None for the system) and reason.
model_version_status_changed = Signal()
