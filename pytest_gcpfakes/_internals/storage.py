"""google-cloud-storage internals the plugin relies on.

Checked against google-cloud-storage 2.18.0 and 3.17.1, the ends of the supported range
(``CHECKED`` in ``__init__``; "2.18 to 3.17" below). A missing name raises
``UnsupportedVersionError``: one sentence naming the installed release and the range.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from pytest_gcpfakes._internals import unsupported

# storage.Client.__init__'s keyword for a ready-made requests session (2.18 to 3.17).
HTTP_ARGUMENT = "_http"


def unset_project(client_module: ModuleType) -> object:
    """The sentinel ``storage.Client.__init__`` takes for "no project given" (``_marker``).

    With it the client looks a project up through google.auth (client.py; 2.18 to 3.17).
    Also checks that ``__init__`` still takes ``HTTP_ARGUMENT``, the other name the
    client's patch relies on, so that a release without either fails here, at import.
    """
    import inspect

    marker = getattr(client_module, "_marker", None)
    parameters = inspect.signature(client_module.Client.__init__).parameters
    if marker is None or HTTP_ARGUMENT not in parameters or "project" not in parameters:
        raise unsupported("google-cloud-storage", "storage.Client's _marker and _http argument")
    return marker


def disable_bucket_metadata_prefetch(
    cache_module: ModuleType, replace: Callable[[Any, str, Any], None]
) -> None:
    """Serve ``BucketMetadataCache`` from what it holds, without its prefetch thread.

    3.11 to 3.17 (the module is new in 3.11; this runs only if it is imported) fetch bucket
    metadata in a daemon thread on first use of each bucket, only to label OpenTelemetry
    spans (_bucket_metadata_cache.py: ``get_or_queue_fetch``, ``check_and_evict``). Under
    the fakes that thread would be an extra GET racing the test's teardown.
    """
    cache_cls = getattr(cache_module, "BucketMetadataCache", None)
    if cache_cls is None or not hasattr(cache_cls, "get_or_queue_fetch"):
        raise unsupported("google-cloud-storage", "BucketMetadataCache.get_or_queue_fetch")

    def get_or_queue_fetch(self: Any, bucket_name: str) -> Any:
        return self.get(bucket_name)

    def check_and_evict(self: Any, bucket_name: str) -> None:
        self.evict(bucket_name)

    replace(cache_cls, "get_or_queue_fetch", get_or_queue_fetch)
    replace(cache_cls, "check_and_evict", check_and_evict)


# transfer_manager picks its pool (ThreadPoolExecutor or ProcessPoolExecutor) for a
# worker_type here; every bulk function calls it (transfer_manager.py; 2.18 to 3.17).
POOL_FUNCTION = "_get_pool_class_and_requirements"
