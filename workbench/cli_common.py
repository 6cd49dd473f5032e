"""Options and helpers shared by the ``workbench`` command's modules."""

from __future__ import annotations

from pathlib import Path

import click

from workbench.config import Config, config_path, load_config
from workbench.store import Store

store_option = click.option(
    "--store",
    "store_dir",
    type=click.Path(file_okay=False),
    help="Store directory (default: the config's, data/store).",
)


def _store(ctx: click.Context, store_dir: str | None) -> Store:
    """The store: --store, else the config's. With a config file in use its settings
    apply (and are recorded in the store); without one, the store's recorded settings do."""
    file = config_path(ctx.obj)
    if file is None:
        return Store(Path(store_dir) if store_dir else Config().store)
    cfg = load_config(file)
    if store_dir:
        cfg.store = Path(store_dir)
    return Store(cfg.store, cfg)
