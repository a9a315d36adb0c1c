"""Expression class names: one canonical spelling, the aliases datasets use, and class sets."""

from __future__ import annotations

from ..errors import UnknownNameError

# Canonical names. Every loader maps its dataset's spelling onto these.
ALIASES = {
    "anger": "anger",
    "angry": "anger",
    "an": "anger",
    "contempt": "contempt",
    "co": "contempt",
    "disgust": "disgust",
    "disgusted": "disgust",
    "di": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "fe": "fear",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "ha": "happy",
    "sadness": "sadness",
    "sad": "sadness",
    "sa": "sadness",
    "surprise": "surprise",
    "surprised": "surprise",
    "su": "surprise",
    "neutral": "neutral",
    "ne": "neutral",
}

# CK+ Emotion/*.txt codes (from the CK+ distribution's README).
CK_CODES = {0: "neutral", 1: "anger", 2: "contempt", 3: "disgust", 4: "fear", 5: "happy", 6: "sadness", 7: "surprise"}

CLASS_SETS = {
    # the paper's six basic expressions on CK+
    "ck6": ["anger", "disgust", "fear", "happy", "sadness", "surprise"],
    "ck7": ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"],
    # the paper's eight: six basic + neutral + contempt, in CK+ code order
    "ck8": ["neutral", "anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"],
    # FER2013 label order 0..6 (also TFD, SFEW, JAFFE use these seven)
    "basic7": ["anger", "disgust", "fear", "happy", "sadness", "surprise", "neutral"],
    "oulu6": ["anger", "disgust", "fear", "happy", "sadness", "surprise"],
    # FER+ vote order (neutral, happiness, surprise, sadness, anger, disgust, fear, contempt)
    "ferplus8": ["neutral", "happy", "surprise", "sadness", "anger", "disgust", "fear", "contempt"],
}


def canonical(name: str) -> str:
    key = name.strip().lower()
    if key not in ALIASES:
        raise UnknownNameError("class name", name, set(ALIASES.values()))
    return ALIASES[key]


def resolve_class_set(classes, default: str | list[str]) -> list[str]:
    """``classes`` is a class-set name (``"ck6"``), a list of names, or None for ``default``."""
    if classes is None:
        classes = default
    if isinstance(classes, str):
        if "," in classes:
            classes = classes.split(",")
        else:
            if classes not in CLASS_SETS:
                raise UnknownNameError("class set", classes, CLASS_SETS)
            return list(CLASS_SETS[classes])
    return [canonical(c) for c in classes]
