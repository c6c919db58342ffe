"""What our TFDS builders share: data from local files or code, nothing downloaded."""

from __future__ import annotations

from typing import ClassVar

import tensorflow_datasets as tfds


class LocalBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    # Subclasses set VERSION from catalog.VERSIONS and add to RELEASE_NOTES.
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Initial release."}
    # No checksums file to look for. (TFDS's own lookup also imports importlib_resources,
    # which TFDS 4.9.10 does not install, for any builder defined inside a package.)
    code_path = None

    # TFDS prints "Downloading and preparing dataset Unknown size ..." before and a
    # "downloaded" line after; nothing is downloaded here and prepare.py says what it did.
    def _log_download_bytes(self) -> None:
        pass

    def _log_download_done(self) -> None:
        pass
