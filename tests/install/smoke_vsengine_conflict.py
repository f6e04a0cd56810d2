"""vsjetengine and vsengine-core in one environment (run by `nox -s install`).

`python smoke_vsengine_conflict.py both`: both distributions are installed (vsengine-core last, so
the `vsengine` files are ours): `import vsengine` must stop at once with an ImportError that names
the conflict and the commands that fix it.
`python smoke_vsengine_conflict.py fixed`: after those commands, vsengine-core imports and its
pytest plugin is registered.
"""

from __future__ import annotations

import sys
from importlib.metadata import distribution, entry_points


def both() -> None:
    try:
        import vsengine  # noqa: F401
    except ImportError as error:
        message = str(error)
    else:
        raise SystemExit("import vsengine succeeded with vsjetengine installed alongside vsengine-core")
    for needed in (
        "vsengine-core and vsjetengine are both installed",
        "-m pip uninstall -y vsjetengine vsengine-core",
        "-m pip install --no-deps vsengine-core",
    ):
        assert needed in message, (needed, message)
    print("conflict reported:", message)


def fixed() -> None:
    import vsengine

    assert distribution("vsengine-core").version == vsengine.__version__
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins == {"vsengine": "vsengine.pytest"}, plugins
    print("vsengine-core", vsengine.__version__, "alone")


if __name__ == "__main__":
    {"both": both, "fixed": fixed}[sys.argv[1]]()
