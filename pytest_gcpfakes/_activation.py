"""Interception of the real GCP clients, the "current backend" lookup and the network guard.

Installing is cheap and imports nothing from Google: a post-import hook patches the client
modules when something first imports them (or at once, if they already are). Patches are
class-level and look the fake backend up at *call* time, so a client built at import time
works in every test, against that test's fresh state.

What gets patched, and why:

- ``grpc.secure_channel`` / ``insecure_channel`` (and ``grpc.aio``'s): a channel to a Google
  host gets a stand-in whose calls fail with :class:`BlockedCallError`. Socket-level guards
  cannot see gRPC's C core, so channel creation is the only choke point.
- ``requests.Session.get_adapter``: requests to the fake Storage base URL go to the in-process
  JSON API; requests to Google hosts fail. Class-level, so sessions created before the
  plugin loaded are covered too.
- The GAPIC clients' ``_transport_registry``: ``"grpc"`` (the default) and ``"rest"`` build
  the in-memory transport, so ``PublisherClient()`` needs no channel and no credentials.
- ``pubsub_v1`` ``publish()`` / ``subscribe()``: check for an active fake up front, so the
  error is raised from the public call rather than inside a publish future or a background
  streaming-pull thread.
- The publish future's ``result()`` / ``exception()``, and ``concurrent.futures``'
  ``_AcquireFutures.__enter__`` (how ``wait()`` / ``as_completed()`` start): waiting on a
  publish future commits its client's pending batch at once (``pubsub._waits``).
- ``google.api_core.retry``'s ``retry_unary`` / ``retry_base``: their ``time`` and
  ``retry_target``, so a client's backoff after a failure the fake answered is virtual
  (``_backoff``).
- ``storage.Client.__init__``: anonymous credentials, the configured project and the fake
  base URL, so construction never looks for credentials or a project.
- ``BucketMetadataCache``: no background prefetch thread (it only labels tracing spans).
- ``multiprocessing``'s ``Process.start``: a child started while a fake is active can
  reach it (``_processes``); transfer_manager's process workers need nothing more.
- freezegun's default ignore list gets ``grpc.``: gRPC takes wire deadlines from
  ``time.time()``, so real channels (to ``gcpfakes_server``) work under a past freeze.
- ``requests``: a storage client's explicit loopback or ``$STORAGE_EMULATOR_HOST`` endpoint
  is served by the active fake; any other explicit endpoint fails at once. So are GCS's own
  hosts (``storage.googleapis.com``, ``BUCKET.storage.googleapis.com``), which signed URLs
  and POST forms name: served while a Storage fake is active, blocked otherwise.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import inspect
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from pytest_gcpfakes import _registry
from pytest_gcpfakes._hosts import (
    grpc_target_host,
    is_google_host,
    is_servable_endpoint,
)
from pytest_gcpfakes._internals import own_method
from pytest_gcpfakes._internals import pubsub as _pubsub_internals
from pytest_gcpfakes._internals import storage as _storage_internals
from pytest_gcpfakes._registry import STORAGE_BASE_URL, client_project, current, peek

_HTTP = _storage_internals.HTTP_ARGUMENT

# ---------------------------------------------------------------------------------------
# Patching with explicit save/restore


class _Patches:
    """Attribute replacements that can all be undone, in reverse order."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any, bool]] = []
        self._permanent: set[tuple[int, str]] = set()

    def replace_permanently(self, owner: Any, name: str, new: Any) -> None:
        """Replace an attribute for the rest of the process (applied once)."""
        key = (id(owner), name)
        if key not in self._permanent:
            self._permanent.add(key)
            setattr(owner, name, new)

    def replace(self, owner: Any, name: str, new: Any) -> None:
        had = name in vars(owner) if isinstance(owner, type) else hasattr(owner, name)
        old = vars(owner).get(name) if isinstance(owner, type) else getattr(owner, name, None)
        self._saved.append((owner, name, old, had))
        setattr(owner, name, new)

    def set_item(self, mapping: dict[str, Any], key: str, new: Any) -> None:
        self._saved.append((mapping, key, mapping.get(key), key in mapping))
        mapping[key] = new

    def restore(self) -> None:
        while self._saved:
            owner, name, old, had = self._saved.pop()
            if isinstance(owner, dict):
                if had:
                    owner[name] = old
                else:
                    owner.pop(name, None)
            elif had:
                setattr(owner, name, old)
            else:
                delattr(owner, name)


# ---------------------------------------------------------------------------------------
# Post-import hook


class _PatchingLoader(importlib.abc.Loader):
    """Wraps a module's loader to run our patch right after the module has executed."""

    def __init__(self, inner: Any, callback: Callable[[ModuleType], None]) -> None:
        self._inner = inner
        self._callback = callback

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self._inner.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        # Later code (importlib.resources, pkgutil) expects the original loader.
        module.__loader__ = self._inner
        if module.__spec__ is not None:
            module.__spec__.loader = self._inner
        self._inner.exec_module(module)
        self._callback(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _ImportWatcher(importlib.abc.MetaPathFinder):
    """Meta-path finder that only watches; the other finders still find the modules."""

    def __init__(self, callbacks: dict[str, list[Callable[[ModuleType], None]]]) -> None:
        self.callbacks = callbacks

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        callbacks = self.callbacks.get(fullname)
        if callbacks is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec: importlib.machinery.ModuleSpec | None = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _PatchingLoader(spec.loader, functools.partial(_run_callbacks, callbacks))
        return spec


# ---------------------------------------------------------------------------------------
# The patches themselves


def _patch_grpc(module: ModuleType) -> None:
    for owner in (module, getattr(module, "aio", None)):
        if owner is None:
            continue
        for name in ("secure_channel", "insecure_channel"):
            original = getattr(owner, name, None)
            if original is not None:
                _state.patches.replace(owner, name, _guarded_channel(original, owner is module))


def _guarded_channel(original: Callable[..., Any], sync: bool) -> Callable[..., Any]:
    @functools.wraps(original)
    def channel(target: str, *args: Any, **kwargs: Any) -> Any:
        if is_google_host(grpc_target_host(str(target))):
            from pytest_gcpfakes._guard import BlockedChannel, grpc_called_service

            if not sync:  # an aio channel's calls are coroutines: refuse the channel itself
                raise grpc_called_service(str(target)).error(str(target))
            return BlockedChannel(str(target))
        return original(target, *args, **kwargs)

    return channel


def _patch_requests(module: ModuleType) -> None:
    # Permanent: a storage client built under the fakes keeps pointing at the fake base URL
    # after they are gone, and must then fail at once (FakeNotActiveError) rather than
    # retry a DNS failure for two minutes. The Google-host guard applies only while
    # interception is installed.
    session_cls = module.Session
    original = session_cls.get_adapter

    @functools.wraps(original)
    def get_adapter(self: Any, url: str) -> Any:
        if url.startswith(STORAGE_BASE_URL):
            from pytest_gcpfakes.storage._adapter import storage_adapter

            return storage_adapter()
        if _state.count:
            parts = urlsplit(url)
            if is_google_host(parts.hostname):
                from pytest_gcpfakes.storage._addressing import is_gcs_host

                if is_gcs_host(parts.hostname) and peek("storage") is not None:
                    # A URL made for GCS itself (a signed URL with Google's host, path-style
                    # or virtual-hosted), while a Storage fake is active: served and checked
                    # by it as its own host is. Nothing leaves; other Google hosts fail.
                    from pytest_gcpfakes.storage._adapter import storage_adapter

                    return storage_adapter()
                from pytest_gcpfakes._guard import blocked_adapter

                return blocked_adapter()
            if (
                parts.netloc in _local_storage_endpoints
                and not _registry.serves(parts.port)
                and peek("storage") is not None
            ):
                # A storage client's explicit loopback or $STORAGE_EMULATOR_HOST endpoint,
                # while a Storage fake is active: served by it, as the default endpoint is.
                # (A server of this process is left to its socket; so is any other URL.)
                from pytest_gcpfakes.storage._adapter import storage_adapter

                return storage_adapter()
            if parts.netloc in _foreign_storage_endpoints:
                from pytest_gcpfakes._guard import foreign_endpoint_adapter

                return foreign_endpoint_adapter()
        return original(self, url)

    _state.patches.replace_permanently(session_cls, "get_adapter", get_adapter)


# netlocs of storage clients' explicit endpoints. Local ones (loopback, the emulator's)
# are served by the fake while one is active; foreign ones fail at once (a network wait of
# minutes otherwise, and nothing may leave anyway).
_local_storage_endpoints: set[str] = set()
_foreign_storage_endpoints: set[str] = set()


def _gapic_registry_patch(service_module: str, transport_base: str) -> Callable[[ModuleType], None]:
    """Return a patch that registers the in-memory transport for one GAPIC client module."""

    def patch(module: ModuleType) -> None:
        from pytest_gcpfakes.pubsub._transport import fake_transport_class

        registry = _pubsub_internals.transport_registry(module)
        fake = fake_transport_class(service_module, transport_base)
        for label in ("grpc", "rest"):
            _state.patches.set_item(registry, label, fake)

    return patch


def _patch_publisher(module: ModuleType) -> None:
    from pytest_gcpfakes.pubsub._waits import track

    client_cls = module.Client
    original = own_method(client_cls, "publish", "google-cloud-pubsub")
    signature = inspect.signature(original)

    @functools.wraps(original)
    def publish(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_faked(self):  # e.g. an explicit transport to a loopback emulator
            return original(self, *args, **kwargs)
        _refuse_foreign_endpoint(self)
        handle = current("pubsub")
        _record_publisher(signature, self, args, kwargs)
        future = original(self, *args, **kwargs)
        immediately = handle.config.publish_immediately
        if immediately:
            _pubsub_internals.commit_pending_batches(self)
        track(self, future, handle, committed=immediately)  # waiting on it commits (_waits)
        return future

    _state.patches.replace(client_cls, "publish", publish)


def _is_faked(client: Any) -> bool:
    """Whether a Pub/Sub client runs on the in-memory transport (not a channel of its own)."""
    return hasattr(_pubsub_internals.client_transport(client), "_fake_methods")


def _refuse_foreign_endpoint(client: Any) -> None:
    """Raise from publish()/subscribe() themselves for an endpoint the fakes cannot serve."""
    endpoint = _pubsub_internals.client_transport(client).refused_endpoint
    if endpoint:
        from pytest_gcpfakes._errors import ForeignEndpointError

        raise ForeignEndpointError("pubsub", endpoint)


def _record_publisher(signature: inspect.Signature, client: Any, args: Any, kwargs: Any) -> None:
    try:
        bound = signature.bind(client, *args, **kwargs)
    except TypeError:
        return  # the library will raise the right error itself
    arguments = bound.arguments
    data = arguments.get("data")
    if not isinstance(data, bytes):
        return
    attributes = {
        k: v.decode("utf-8", "replace") if isinstance(v, bytes) else v
        for k, v in (arguments.get("attrs") or {}).items()
    }
    if not all(isinstance(v, str) for v in attributes.values()):
        return
    from pytest_gcpfakes.pubsub._threads import record_publisher_thread

    record_publisher_thread(
        str(arguments.get("topic")), data, str(arguments.get("ordering_key") or ""), attributes
    )


def _patch_subscriber(module: ModuleType) -> None:
    client_cls = module.Client
    original = own_method(client_cls, "subscribe", "google-cloud-pubsub")

    @functools.wraps(original)
    def subscribe(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_faked(self):
            return original(self, *args, **kwargs)
        _refuse_foreign_endpoint(self)
        current("pubsub")
        future = original(self, *args, **kwargs)
        from pytest_gcpfakes import _sessions
        from pytest_gcpfakes.usage._recorder import user_site

        # A stream the test leaves open is cancelled, and reported, when the test ends.
        _sessions.track_stream(future, str(user_site(sys._getframe(1))))
        return future

    _state.patches.replace(client_cls, "subscribe", subscribe)


def _patch_storage_client(module: ModuleType) -> None:
    client_cls = module.Client
    original = own_method(client_cls, "__init__", "google-cloud-storage")
    signature = inspect.signature(original)
    marker = _storage_internals.unset_project(module)

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        from google.api_core.client_options import ClientOptions, from_dict
        from google.auth.credentials import AnonymousCredentials

        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        if arguments["project"] is marker:
            arguments["project"] = client_project()
        options = arguments["client_options"]
        if isinstance(options, dict):
            options = from_dict(options)
        options = ClientOptions() if options is None else _copy_options(options)
        endpoint = options.api_endpoint
        parts = urlsplit(str(endpoint or ""))
        if not endpoint or is_google_host(parts.hostname):
            options.api_endpoint = STORAGE_BASE_URL
        elif is_servable_endpoint(str(endpoint), "STORAGE_EMULATOR_HOST"):
            _local_storage_endpoints.add(parts.netloc)
        else:
            _foreign_storage_endpoints.add(parts.netloc)
        arguments["client_options"] = options
        if arguments["credentials"] is None and not arguments.get("api_key"):
            # Anonymous for requests, but able to sign URLs (a fake signer).
            from pytest_gcpfakes.storage._signing import FakeSigningCredentials

            arguments["credentials"] = FakeSigningCredentials()
        if arguments[_HTTP] is None and options.api_endpoint == STORAGE_BASE_URL:
            # The caller's credentials (if any) stay on the client, able to sign URLs, but
            # requests never refresh a token. trust_env=False: requests would otherwise scan
            # the environment for proxy settings on every call, which never apply to the
            # fake URL (a third of a small download's cost).
            from google.auth.transport.requests import AuthorizedSession

            session = AuthorizedSession(AnonymousCredentials())
            session.trust_env = False
            arguments[_HTTP] = session
        original(*bound.args, **bound.kwargs)

    _state.patches.replace(client_cls, "__init__", __init__)


def _patch_bucket_metadata_cache(module: ModuleType) -> None:
    _storage_internals.disable_bucket_metadata_prefetch(module, _state.patches.replace)


def _patch_freezegun_config(module: ModuleType) -> None:
    # gRPC over a real socket takes its deadlines from time.time() (grpc/_channel.py,
    # _deadline): under a freeze in the past every RPC on a real channel (an explicit
    # channel to gcpfakes_server, the parity suite's server leg) would miss its deadline at
    # once. freeze_time() reads this list when it is called, so freezes made after the
    # plugin loaded let grpc see real time; their own ignore lists are left alone.
    settings = module.settings
    listed = list(settings.default_ignore_list)
    if _FREEZEGUN_IGNORED not in listed:
        _state.patches.replace(settings, "default_ignore_list", [*listed, _FREEZEGUN_IGNORED])


_FREEZEGUN_IGNORED = "grpc."


def _patch_multiprocessing(module: ModuleType) -> None:
    # Wraps around start(): the Process object, its target and its arguments stay the
    # caller's. A child started while a fake is active finds GCPFAKES_LINK in its
    # environment (spawn, forkserver) or its parent's servers running (fork).
    process_cls = module.BaseProcess
    original = process_cls.start

    @functools.wraps(original)
    def start(self: Any) -> None:
        from pytest_gcpfakes import _processes

        _processes.before_process_start()
        original(self)

    _state.patches.replace(process_cls, "start", start)


def _patch_publish_futures(module: ModuleType) -> None:
    from pytest_gcpfakes.pubsub._waits import patch_publish_futures

    patch_publish_futures(module, _state.patches.replace)


def _patch_future_waits(module: ModuleType) -> None:
    from pytest_gcpfakes._internals.futures import before_waiting
    from pytest_gcpfakes.pubsub._waits import commit_for

    before_waiting(module, _state.patches.replace, commit_for)


def _patch_retry(module: ModuleType) -> None:
    from pytest_gcpfakes._backoff import patch_retry_module

    patch_retry_module(module, _state.patches.replace)


def _copy_options(options: Any) -> Any:
    import copy

    return copy.copy(options)


def _usage(function: str) -> Callable[[ModuleType], None]:
    """A patch from ``pytest_gcpfakes.usage`` (imported only when its module is)."""

    def patch(module: ModuleType) -> None:
        from pytest_gcpfakes.usage import _instrument, _requests

        target = getattr(_instrument, function, None) or getattr(_requests, function)
        target(module, _state.patches.replace)

    return patch


_PUBSUB_GAPIC = "google.pubsub_v1.services"
# Per module, the patches in the order they apply: interception first, then the usage
# recorder's wrappers, which must be the outermost layer user code calls.
_CALLBACKS: dict[str, list[Callable[[ModuleType], None]]] = {
    "threading": [_usage("patch_threading")],
    "concurrent.futures.thread": [_usage("patch_executor")],
    "flask.ctx": [_usage("patch_flask")],
    "multiprocessing.process": [_patch_multiprocessing],
    "freezegun.config": [_patch_freezegun_config],
    "grpc": [_patch_grpc],
    "requests": [_patch_requests],
    f"{_PUBSUB_GAPIC}.publisher.client": [
        _gapic_registry_patch("publisher", "PublisherTransport"),
        _usage("patch_module"),
    ],
    f"{_PUBSUB_GAPIC}.subscriber.client": [
        _gapic_registry_patch("subscriber", "SubscriberTransport"),
        _usage("patch_module"),
    ],
    f"{_PUBSUB_GAPIC}.schema_service.client": [
        _gapic_registry_patch("schema_service", "SchemaServiceTransport"),
        _usage("patch_module"),
    ],
    "google.cloud.pubsub_v1.publisher.client": [_patch_publisher, _usage("patch_module")],
    "google.cloud.pubsub_v1.subscriber.client": [_patch_subscriber, _usage("patch_module")],
    "google.cloud.pubsub_v1.publisher.futures": [_patch_publish_futures, _usage("patch_module")],
    "concurrent.futures._base": [_patch_future_waits],
    "google.api_core.retry.retry_unary": [_patch_retry],
    "google.api_core.retry.retry_base": [_patch_retry],
    "google.cloud.pubsub_v1.subscriber.futures": [_usage("patch_module")],
    "google.cloud.storage.client": [_patch_storage_client, _usage("patch_module")],
    "google.cloud.storage.bucket": [_usage("patch_module")],
    "google.cloud.storage.blob": [_usage("patch_module")],
    "google.cloud.storage.batch": [_usage("patch_module")],
    "google.cloud.storage._bucket_metadata_cache": [_patch_bucket_metadata_cache],
}


def _run_callbacks(callbacks: list[Callable[[ModuleType], None]], module: ModuleType) -> None:
    for callback in callbacks:
        callback(module)


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.count = 0
        self.patches = _Patches()
        self.watcher: _ImportWatcher | None = None


_state = _State()


def install() -> None:
    """Install interception (reference-counted: every ``install()`` needs an ``uninstall()``)."""
    from pytest_gcpfakes import _processes  # noqa: F401  (registers the at-fork hooks)

    with _state.lock:
        _state.count += 1
        if _state.count > 1:
            return
        _state.watcher = _ImportWatcher(_CALLBACKS)
        sys.meta_path.insert(0, _state.watcher)
        for name, callbacks in _CALLBACKS.items():
            module = sys.modules.get(name)
            if module is not None:
                _run_callbacks(callbacks, module)


def uninstall() -> None:
    """Undo one ``install()``; the last one removes every patch."""
    with _state.lock:
        if _state.count == 0:
            return
        _state.count -= 1
        if _state.count > 0:
            return
        if _state.watcher in sys.meta_path:
            sys.meta_path.remove(_state.watcher)
        _state.watcher = None
        _state.patches.restore()


def installed() -> bool:
    """Tell whether interception is installed."""
    return _state.count > 0
