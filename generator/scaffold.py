"""``jetgen new``: scaffold a provider repository (filled in below)."""


class ScaffoldError(RuntimeError):
    pass


def create(*args, **kwargs):
    raise ScaffoldError("not yet")
