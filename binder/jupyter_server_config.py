"""Jupyter Server settings on Binder, read because binder/start puts binder/ on JUPYTER_CONFIG_PATH.

A Binder container has ~1-2 GB of memory. Measured with this environment: the server ~150 MB, one explorer page's
kernel ~360 MB (voila/render), so at most `BinderKernelManager.max_kernels` (3) kernels run at once, ~1.2 GB: the
next page or notebook gets HTTP 503 saying why. Idle kernels are culled as voila.json says for `explorer app` (Voila's
server extension takes only its Voila settings from voila.json, not the server's kernel manager's): after 10 minutes
idle, even while a page is connected, never while busy.
"""

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from traitlets import Int

c = get_config()  # noqa: F821 (traitlets' config loader defines it)


class BinderKernelManager(AsyncMappingKernelManager):
    """The server's kernel manager, refusing a new kernel once `max_kernels` run."""

    max_kernels = Int(3, config=True, help="kernels at once (~360 MB per explorer page); more get HTTP 503")

    async def start_kernel(self, *, kernel_id=None, path=None, **kwargs):
        running = len(self.list_kernel_ids())
        if (kernel_id is None or kernel_id not in self) and running >= self.max_kernels:
            why = f"Busy: {running} kernels already run in this Binder container, as many as its memory takes"
            raise web.HTTPError(503, why, reason=f"{why}; close a tab or retry in 10 minutes (idle kernels end)")
        return await super().start_kernel(kernel_id=kernel_id, path=path, **kwargs)


c.ServerApp.kernel_manager_class = BinderKernelManager
c.MappingKernelManager.cull_interval = 60
c.MappingKernelManager.cull_idle_timeout = 600
c.MappingKernelManager.cull_connected = True
c.MappingKernelManager.cull_busy = False
