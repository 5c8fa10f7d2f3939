"""Shared ingestion of Africa's Talking callbacks.

Every AT product calls back over HTTP. This package is the one path they all
take: authenticate (`auth`), parse the body (`payload`), store the row and apply
its effect (`ingest`), answer (`views`). Each app only declares its event models
(subclasses of `models.CallbackEvent`) and mounts them with `mount.callback_path`.
"""
