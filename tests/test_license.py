"""The project is Apache-2.0: the full licence text ships, and the metadata says so."""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path

LICENSE = Path(__file__).resolve().parent.parent / "LICENSE"
APACHE_2_0_MD5 = "3b83ef96387f14655fc854ddc3c6bd57"
"""md5 of the canonical https://www.apache.org/licenses/LICENSE-2.0.txt."""


def test_license_is_the_full_apache_2_0_text() -> None:
    assert hashlib.md5(LICENSE.read_bytes()).hexdigest() == APACHE_2_0_MD5


def test_installed_metadata_names_the_licence() -> None:
    metadata = importlib.metadata.metadata("spamops")
    assert metadata["License"] == "Apache-2.0"
    assert "License :: OSI Approved :: Apache Software License" in metadata.get_all("Classifier")
