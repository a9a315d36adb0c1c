"""Exceptions with messages that name the problem and the fix."""


class FaceNet2ExpNetError(Exception):
    """Base class of every error this package raises on purpose."""


class DatasetLayoutError(FaceNet2ExpNetError):
    """A dataset root does not have the layout its loader expects."""


class BadImagesError(FaceNet2ExpNetError):
    """Some image files could not be read."""

    def __init__(self, bad: list[tuple[str, str]]):
        self.bad = bad
        lines = "\n".join(f"  {p}: {why}" for p, why in bad[:20])
        more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        super().__init__(
            f"{len(bad)} image file(s) could not be read:\n{lines}{more}\n"
            "Fix or remove them, or pass --skip-bad (skip_bad=True) to leave them out explicitly."
        )


class UnknownNameError(FaceNet2ExpNetError, KeyError):
    """A name (dataset kind, class, model, method, layer...) is not one we know."""

    def __init__(self, what: str, name: str, known):
        self.what, self.name, self.known = what, name, sorted(known)
        super().__init__(f"unknown {what} {name!r}; known {what}s: {', '.join(self.known)}")

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return self.args[0]
