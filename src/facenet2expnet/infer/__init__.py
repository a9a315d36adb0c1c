"""Inference: ``ExpressionRecognizer`` and the ``predict`` command's media handling."""

from .recognizer import ExpressionRecognizer

__all__ = ["ExpressionRecognizer"]
