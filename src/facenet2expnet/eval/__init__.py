"""Evaluation: pure metric functions (``metrics``) kept apart from reports and runners."""
