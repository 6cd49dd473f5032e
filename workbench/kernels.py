"""The Jupyter kernel every notebook run starts: this Python, with this package importable.

Resolving a kernel by name would pick whatever ``python3`` kernelspec Jupyter finds
first (a user-wide one may point at another Python), and a fresh venv may have none.
So reports (papermill) and dashboards (Voila) look no kernelspec up: the kernel is
``sys.executable -m ipykernel_launcher`` (ipykernel's own kernelspec for this
interpreter), with the repository root prepended to PYTHONPATH. Dashboards' kernels
are culled by ``PageKernelManager``.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta

from ipykernel.kernelspec import get_kernel_dict
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from traitlets import default

from workbench import REPO_ROOT

log = logging.getLogger(__name__)

KERNEL_NAME = "python3"
FIRST_CONNECT_S = 120  # a dashboard kernel no page ever connected to is culled after this


def this_python_spec() -> KernelSpec:
    """Exactly what ``ipykernel install`` would write for this interpreter."""
    pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    return KernelSpec(
        **get_kernel_dict(python_arguments=["-Xfrozen_modules=off"]),
        env={"PYTHONPATH": pythonpath},
    )


class ThisPythonKernelSpecs(KernelSpecManager):
    """One kernelspec, ``python3``, that is this interpreter, whatever else is installed."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return this_python_spec()

    def find_kernel_specs(self) -> dict[str, str]:
        return {KERNEL_NAME: str(REPO_ROOT)}

    def get_all_specs(self) -> dict:
        return {KERNEL_NAME: {"resource_dir": str(REPO_ROOT), "spec": this_python_spec().to_dict()}}


class ThisPythonKernelManager(AsyncKernelManager):
    """papermill's kernel manager: this interpreter; CurveZMQ transport encryption if available."""

    @default("kernel_spec_manager")
    def _this_python(self) -> KernelSpecManager:
        return ThisPythonKernelSpecs(data_dir=self.data_dir)

    @default("transport_encryption")
    def _encrypt_when_possible(self) -> str:
        import zmq

        return "auto" if zmq.has("curve") else "disabled"


class PageKernelManager(AsyncMappingKernelManager):
    """Voila's kernels, one per dashboard page: shut down once the page has been gone for
    ``cull_idle_timeout`` seconds.

    Jupyter's own culler counts idleness from the kernel's last message, so a dashboard
    that keeps redrawing itself for a closed page would never be culled. Here idleness
    starts when the last page connection closed, whatever the kernel sends. Voila keeps
    its preheated (not yet shown) kernels out of culling itself.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._page_seen: dict[str, datetime] = {}  # kernel id -> last time a page was connected
        self._connected: set[str] = set()  # kernels a page has connected to

    async def cull_kernel_if_idle(self, kernel_id: str) -> None:
        kernel = self._kernels[kernel_id]
        if getattr(kernel, "execution_state", None) == "dead":
            await super().cull_kernel_if_idle(kernel_id)
            return
        now = datetime.now(UTC)
        if self._kernel_connections.get(kernel_id, 0):
            self._page_seen[kernel_id] = now
            self._connected.add(kernel_id)
            return
        gone = now - self._page_seen.setdefault(kernel_id, now)
        # a page given a kernel connects to it once its scripts have loaded: wait for that
        limit = self.cull_idle_timeout if kernel_id in self._connected else FIRST_CONNECT_S
        if gone > timedelta(seconds=max(limit, self.cull_idle_timeout)):
            log.info("shutting kernel %s down: no page for %d s", kernel_id, gone.total_seconds())
            self._page_seen.pop(kernel_id, None)
            self._connected.discard(kernel_id)
            await self.shutdown_kernel(kernel_id)
