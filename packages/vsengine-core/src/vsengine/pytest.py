"""pytest plugin: run tests inside managed VapourSynth environments and catch leaked cores.

Installed with vsengine-core and loaded by pytest automatically (entry point ``vsengine`` in the
``pytest11`` group; ``-p no:vsengine`` turns it off). Mark a test with ``@pytest.mark.vpy`` and it
runs once per *stage*, each a situation a previewer puts a script in:

``no-policy``
    No VapourSynth policy is registered.
``no-core``
    The plugin's policy is registered, no environment is current.
``initial-core``
    The module's shared environment is current (created for the first test of the stage).
``reloaded-core``
    A new environment replaces the previous one before each test, as a script reload does.
``unique-core``
    A new environment for this test alone (``flags_creation=`` may set its core creation flags),
    disposed right after it; a reference to its core left behind fails the test.

Without arguments the marker means ``("initial-core", "reloaded-core")``. Within each test
module the marked tests run grouped by stage in the order above; after the ``initial-core`` and
the ``reloaded-core`` group an extra item, ``@check-clean-environment[<stage>]``, disposes the
shared environment and fails if anything still refers to its core.

Fixtures: :func:`vpy_policy` (the plugin's :class:`~vsengine.policy.Policy`),
:func:`vpy_env_factory` (new environments, disposed after the test) and :func:`vpy_stage` (the
stage the test runs in). ``--vpy-flags N`` sets the creation flags of every environment the plugin
makes.
"""

from __future__ import annotations

import gc
import weakref
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Final

import pytest
import vapoursynth as vs
from _pytest._code.code import TerminalRepr

from vsengine._release import PendingRelease, release_queue
from vsengine.policy import GlobalStore, ManagedEnvironment, Policy

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator
    from pathlib import Path

    from _pytest._io import TerminalWriter

__all__ = [
    "DEFAULT_STAGES",
    "KNOWN_STAGES",
    "CleanupFailed",
    "EnsureCleanEnvironment",
    "vpy_env_factory",
    "vpy_policy",
    "vpy_stage",
]

#: The stages of ``@pytest.mark.vpy`` without arguments.
DEFAULT_STAGES: Final = ("initial-core", "reloaded-core")
#: Every stage, in the order the tests of a module run in.
KNOWN_STAGES: Final = ("no-policy", "no-core", "initial-core", "reloaded-core", "unique-core")
#: The stages whose environment outlives a test (each group is followed by a leak check).
_SHARED_STAGES: Final = ("initial-core", "reloaded-core")

DEFAULT_ERROR_MESSAGE: Final = (
    "The test suite left a reference to a VapourSynth core after its environment was disposed.",
    "A previewer reloading such a script keeps the old core alive (or crashes once it is freed): "
    "drop the global, cache or closure that holds a clip, frame, plugin or core when the test ends.",
)

# Session state (in ``session.stash``): the plugin's policy, the shared environment of the current
# stage, the environment current during collection and the current stage.
policy_key = pytest.StashKey[Policy | None]()
env_key = pytest.StashKey[ManagedEnvironment | None]()
env_ctx_key = pytest.StashKey[AbstractContextManager[None] | None]()
stage_key = pytest.StashKey[str]()
# Per item: a leak was found after it; it failed.
leaked_key = pytest.StashKey[bool]()
failed_key = pytest.StashKey[bool]()
# Per item: the ``use()`` block entered for it and its own environment (unique-core).
_use_key = pytest.StashKey[AbstractContextManager[None] | None]()
_own_env_key = pytest.StashKey[ManagedEnvironment | None]()
# Per session: leaked cores already reported (each is reported once); the (module, shared stage)
# groups in which a test failed.
_reported_key = pytest.StashKey[weakref.WeakSet[PendingRelease]]()
_failed_groups_key = pytest.StashKey[set[tuple[str, str]]]()


class _CoreLeaked(AssertionError):
    """A disposed environment's core is still referenced (raised in a test's teardown)."""


# -- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture
def vpy_policy(request: pytest.FixtureRequest) -> Policy:
    """The plugin's :class:`~vsengine.policy.Policy` (registered unless the stage is ``no-policy``)."""
    return _session_policy(request.session)


@pytest.fixture
def vpy_env_factory(request: pytest.FixtureRequest) -> Iterator[Callable[[], ManagedEnvironment]]:
    """A function that makes a new environment of the plugin's policy on each call.

    Environments it made and the test did not dispose are disposed when the test ends.
    """
    made: list[ManagedEnvironment] = []

    def new_environment() -> ManagedEnvironment:
        environment = _session_policy(request.session).new_environment()
        made.append(environment)
        return environment

    yield new_environment
    for environment in made:
        environment.dispose()


@pytest.fixture
def vpy_stage(request: pytest.FixtureRequest) -> str:
    """The stage the test runs in (``"no-core"`` outside of marked tests)."""
    return request.session.stash.get(stage_key, "no-core")


def _session_policy(session: pytest.Session) -> Policy:
    policy = session.stash.get(policy_key, None)
    if policy is None:
        raise RuntimeError(
            "No environment policy registered. Is the test marked with @pytest.mark.vpy? "
            "(vpy_policy and vpy_env_factory need the vsengine plugin's policy.)"
        )
    return policy


# -- configuration and session -----------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--vpy-flags",
        action="store",
        type=int,
        default=None,
        help="vapoursynth.CoreCreationFlags of the environments made by the vsengine plugin.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "vpy(*stages, flags_creation=None): run the test in managed VapourSynth environments, once per "
        f"stage ({', '.join(KNOWN_STAGES)}; default: {', '.join(DEFAULT_STAGES)}). flags_creation "
        "sets the core creation flags of a unique-core test.",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    session.stash[stage_key] = "no-core"
    session.stash[_reported_key] = weakref.WeakSet()
    session.stash[_failed_groups_key] = set()
    session.stash[policy_key] = None
    session.stash[env_key] = None
    session.stash[env_ctx_key] = None
    if vs.has_policy():
        return  # someone else manages VapourSynth; marked tests register our policy when they run
    policy = _new_policy(session)
    policy.register()
    # Test modules may use vs.core at import time: give them an environment while they are collected.
    environment = policy.new_environment()
    use = environment.use()
    use.__enter__()
    session.stash[policy_key] = policy
    session.stash[env_key] = environment
    session.stash[env_ctx_key] = use


def pytest_sessionfinish(session: pytest.Session, exitstatus: int | pytest.ExitCode = 0) -> None:
    _end_collection_environment(session)
    policy = session.stash.get(policy_key, None)
    if policy is None:
        return
    _dispose_shared(session)
    if policy.is_registered:
        policy.unregister()
    session.stash[policy_key] = None


def _new_policy(session: pytest.Session) -> Policy:
    flags: int | None = session.config.getoption("--vpy-flags", default=None)
    return Policy(GlobalStore(), flags_creation=flags or 0)


def _end_collection_environment(session: pytest.Session) -> None:
    use = session.stash.get(env_ctx_key, None)
    if use is not None:
        session.stash[env_ctx_key] = None
        use.__exit__(None, None, None)
        _dispose_shared(session)


def _dispose_shared(session: pytest.Session) -> None:
    environment = session.stash.get(env_key, None)
    session.stash[env_key] = None
    if environment is not None:
        environment.dispose()


# -- collection --------------------------------------------------------------------------------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("vpy")
    if marker is None:
        return
    stages = tuple(marker.args) or DEFAULT_STAGES
    unknown = [stage for stage in stages if stage not in KNOWN_STAGES]
    if unknown:
        pytest.fail(
            f"{metafunc.definition.nodeid}: @pytest.mark.vpy got unknown stage(s) {unknown!r}; "
            f"the stages are {', '.join(KNOWN_STAGES)}.",
            pytrace=False,
        )
    if "vpy_stage" not in metafunc.fixturenames:
        metafunc.fixturenames.append("vpy_stage")
    metafunc.parametrize("vpy_stage", list(stages), ids=list(stages))


def _stage_of(item: pytest.Item) -> str | None:
    """The stage ``item`` runs in; None for a test that is not a vpy test."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "vpy_stage" in callspec.params:
        return str(callspec.params["vpy_stage"])
    if item.get_closest_marker("vpy") is not None:
        return "unique-core"  # marked after parametrization: run it alone
    return None


@pytest.hookimpl(trylast=True)  # after -k/-m deselection, so deselected tests get no leak check
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    _end_collection_environment(session)
    if not any(_stage_of(item) in KNOWN_STAGES for item in items):
        # Nothing to do for this plugin: leave VapourSynth as it was before the session.
        policy = session.stash.get(policy_key, None)
        if policy is not None and policy.is_registered:
            policy.unregister()
        session.stash[policy_key] = None
        return
    if config.option.collectonly:
        return
    by_module: dict[Path, list[pytest.Item]] = {}
    for item in items:
        by_module.setdefault(item.path, []).append(item)
    ordered: list[pytest.Item] = []
    for path, module_items in by_module.items():
        groups: dict[str, list[pytest.Item]] = {stage: [] for stage in KNOWN_STAGES}
        others: list[pytest.Item] = []
        for item in module_items:
            groups.get(_stage_of(item) or "", others).append(item)
        for stage, group in groups.items():
            ordered.extend(group)
            if group and stage in _SHARED_STAGES:
                ordered.append(
                    EnsureCleanEnvironment.from_parent(
                        group[0].parent or session,
                        name=f"@check-clean-environment[{stage}]",
                        stage=stage,
                        path=path,
                    )
                )
        ordered.extend(others)
    items[:] = ordered


# -- running -----------------------------------------------------------------------------------------


# Not a wrapper: an error here must come after every wrapper's setup (their teardowns expect it).
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    stage = _stage_of(item)
    if stage is not None and stage in KNOWN_STAGES:
        _enter_stage(item, stage)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    finally:
        use = item.stash.get(_use_key, None)
        item.stash[_use_key] = None
        if use is not None:
            use.__exit__(None, None, None)
        environment = item.stash.get(_own_env_key, None)
        item.stash[_own_env_key] = None
        if environment is not None:
            environment.dispose()
            leaks = _new_leaks(item.session)
            if leaks:
                item.stash[leaked_key] = True
                # A failed test's traceback keeps its objects alive: its failure says enough.
                if not item.stash.get(failed_key, False):
                    raise _CoreLeaked(_leak_message(leaks))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[failed_key] = True
        stage = _stage_of(item)
        if stage in _SHARED_STAGES:
            item.session.stash[_failed_groups_key].add((str(item.path), stage))
    if call.excinfo is not None and isinstance(call.excinfo.value, _CoreLeaked):
        report.longrepr = CleanupFailed(None, str(call.excinfo.value))
    return report


def _enter_stage(item: pytest.Item, stage: str) -> None:
    """Put VapourSynth into ``stage`` for ``item`` (in its setup, before its fixtures)."""
    session = item.session
    policy = session.stash.get(policy_key, None)
    if policy is None:
        policy = session.stash[policy_key] = _new_policy(session)
    marker = item.get_closest_marker("vpy")
    flags: int | None = marker.kwargs.get("flags_creation") if marker is not None else None
    if flags is not None and stage != "unique-core" and flags != policy.flags_creation:
        raise ValueError(
            f"{item.nodeid}: @pytest.mark.vpy(flags_creation={flags}) applies to the unique-core stage "
            f"only, not to {stage!r} (its environment is shared with other tests). Use "
            '@pytest.mark.vpy("unique-core", flags_creation=...) or set the flags of every environment '
            "with --vpy-flags."
        )
    if stage == "no-policy":
        _dispose_shared(session)
        if policy.is_registered:
            policy.unregister()
    elif not policy.is_registered:
        session.stash[env_key] = None  # environments of an earlier registration died with it
        try:
            policy.register()
        except RuntimeError as error:  # VapourSynth: "There is already a policy registered."
            raise RuntimeError(
                f"{item.nodeid}: the vpy marker needs the vsengine plugin's policy, but another "
                "VapourSynth policy is registered (VapourSynth's standalone one is registered the first "
                "time vs.core is used without a policy). Unregister it before the marked tests run."
            ) from error
    environment: ManagedEnvironment | None = None
    if stage == "unique-core":
        environment = policy.new_environment(flags)
        item.stash[_own_env_key] = environment
    else:
        session.stash[stage_key] = stage
        shared = session.stash.get(env_key, None)
        if stage == "initial-core" and shared is not None and not shared.disposed:
            environment = shared
        elif stage in _SHARED_STAGES:
            _dispose_shared(session)
            environment = session.stash[env_key] = policy.new_environment()
        else:
            _dispose_shared(session)
    if environment is not None:
        use = environment.use()
        use.__enter__()
        item.stash[_use_key] = use


def _new_leaks(session: pytest.Session) -> list[str]:
    """Describe the disposed environments whose cores are still referenced, each once per session."""
    policy = session.stash.get(policy_key, None)
    if policy is None:
        return []
    reported = session.stash[_reported_key]
    leaks: list[tuple[PendingRelease, str]] = []
    for _ in range(3):  # objects in reference cycles may need a few collections to go
        gc.collect()
        in_use = release_queue.still_in_use(policy.managed)
        leaks = [(entry, why) for entry, why in in_use if entry not in reported]
        if not leaks:
            return []
    reported.update(entry for entry, _ in leaks)
    return [f"{entry.name}: {why}" for entry, why in leaks]


def _leak_message(leaks: list[str]) -> str:
    return "\n".join([*DEFAULT_ERROR_MESSAGE, *(f"  {leak}" for leak in leaks)])


# -- reporting ---------------------------------------------------------------------------------------


class CleanupFailed(TerminalRepr):
    """How a leaked core is reported: alone, or after the test's own failure (``previous``)."""

    def __init__(self, previous: object | None, next_text: str) -> None:
        self.previous = previous
        self.next_text = next_text

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.next_text.splitlines()[0] if self.next_text else ''!r}>"

    def __str__(self) -> str:
        if self.previous is None:
            return self.next_text
        return f"{self.previous}\n\n{self.next_text}"

    def toterminal(self, tw: TerminalWriter) -> None:
        if self.previous is None:
            for line in self.next_text.splitlines():
                tw.line(line, red=True)
            return
        if isinstance(self.previous, TerminalRepr):
            self.previous.toterminal(tw)
        else:
            tw.line(str(self.previous))
        tw.line("")
        tw.line("vsengine also found a leaked VapourSynth core:", yellow=True, bold=True)
        for line in self.next_text.splitlines():
            tw.line(f"  {line}", yellow=True)


class EnsureCleanEnvironment(pytest.Item):
    """The ``@check-clean-environment[<stage>]`` item after a module's shared-stage tests."""

    def __init__(self, *, stage: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stage = stage

    def runtest(self) -> None:
        session = self.session
        policy = session.stash.get(policy_key, None)
        if policy is not None and not policy.is_registered and not vs.has_policy():
            policy.register()  # the shared environment can only be disposed through its policy
        _dispose_shared(session)
        leaks = _new_leaks(session)
        if leaks and (str(self.path), self.stage) in session.stash[_failed_groups_key]:
            # The failures' tracebacks hold their tests' clips and frames: their own reports say enough.
            pytest.skip(
                f"a {self.stage} test of this module failed: what its traceback still holds is not a leak "
                "of the test suite (fix the failure to get this check back)"
            )
        if leaks:
            raise _CoreLeaked(_leak_message(leaks))

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, _CoreLeaked):
            return CleanupFailed(None, str(excinfo.value))
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, None, str]:
        return self.path, None, f"cleaning up: {self.stage}"
