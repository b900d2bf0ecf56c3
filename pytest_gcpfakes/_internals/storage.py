"""google-cloud-storage internals the plugin relies on.

Checked against google-cloud-storage 3.17.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

# storage.Client.__init__'s keyword for a ready-made requests session (3.17).
HTTP_ARGUMENT = "_http"


def unset_project(client_module: ModuleType) -> object:
    """The sentinel ``storage.Client.__init__`` takes for "no project given" (``_marker``).

    With it the client looks a project up through google.auth (client.py; 3.17).
    """
    return client_module._marker


def disable_bucket_metadata_prefetch(
    cache_module: ModuleType, replace: Callable[[Any, str, Any], None]
) -> None:
    """Serve ``BucketMetadataCache`` from what it holds, without its prefetch thread.

    3.17 fetches bucket metadata in a daemon thread on first use of each bucket, only to
    label OpenTelemetry spans (_bucket_metadata_cache.py: ``get_or_queue_fetch``,
    ``check_and_evict``). Under the fakes that thread would be an extra GET racing the
    test's teardown.
    """
    cache_cls = cache_module.BucketMetadataCache

    def get_or_queue_fetch(self: Any, bucket_name: str) -> Any:
        return self.get(bucket_name)

    def check_and_evict(self: Any, bucket_name: str) -> None:
        self.evict(bucket_name)

    replace(cache_cls, "get_or_queue_fetch", get_or_queue_fetch)
    replace(cache_cls, "check_and_evict", check_and_evict)


# transfer_manager picks its pool (ThreadPoolExecutor or ProcessPoolExecutor) for a
# worker_type here; every bulk function calls it (transfer_manager.py; 3.17).
POOL_FUNCTION = "_get_pool_class_and_requirements"
