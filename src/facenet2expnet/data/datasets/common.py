"""What several dataset layouts share: listing folders, layout errors that say what was found, class folders."""

from __future__ import annotations

import os

from ...errors import DatasetLayoutError, UnknownNameError
from ..classes import canonical
from ..images import is_image_file
from ..records import Problem


def listdir(path: str) -> list[str]:
    return sorted(os.listdir(path))


def expect(cond: bool, kind: str, expected: str, root: str) -> None:
    if not cond:
        found = ", ".join(listdir(root)[:12]) if os.path.isdir(root) else "(not a folder)"
        raise DatasetLayoutError(f"{kind}: expected {expected} under {root}; found: {found or '(empty)'}")


def class_folders(kind: str, root: str, class_names: list[str] | None, aliases: bool = True):
    """Yield (class index, folder path, class name) for ``root/<class>/`` folders."""
    folders = [d for d in listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith(".")]
    expect(bool(folders), kind, "one sub-folder per class (<class>/<image>)", root)
    names = {}
    for d in folders:
        try:
            names[d] = canonical(d) if aliases else d
        except UnknownNameError as exc:
            raise DatasetLayoutError(
                f"{kind}: sub-folder {d!r} of {root} is not a class name; "
                f"expected one folder per class, known names: {', '.join(exc.known)}"
            ) from None
    if class_names is None:
        class_names = sorted(set(names.values()))
    problems, out = [], []
    for d in folders:
        if names[d] not in class_names:
            n = sum(is_image_file(f) for f in listdir(os.path.join(root, d)))
            problems.append(
                Problem(
                    "excluded",
                    os.path.join(root, d),
                    f"{n} images of class {names[d]!r} left out: not in the class set {class_names}",
                )
            )
            continue
        out.append((class_names.index(names[d]), os.path.join(root, d), names[d]))
    return class_names, out, problems


def images_in(folder: str, problems: list[Problem], recursive: bool = False) -> list[str]:
    if recursive:
        files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(folder) for f in fs if is_image_file(f))
    else:
        files = [os.path.join(folder, f) for f in listdir(folder) if is_image_file(f)]
    if not files:
        problems.append(Problem("empty-folder", folder, "folder has no image files"))
    return files
