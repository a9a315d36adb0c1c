"""Face-net teachers: dlib's ResNet-29 (default, offline) and VGG-Face (the paper's)."""

from .registry import TEACHERS, Teacher, create_teacher

__all__ = ["TEACHERS", "Teacher", "create_teacher"]
