"""FaceNet2ExpNet: regularizing a deep face recognition net for expression recognition.

An open reimplementation of Ding, Zhou & Chellappa, FG 2017 (arXiv 1609.06591).
Nothing is loaded or downloaded at import time.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
