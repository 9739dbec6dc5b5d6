"""The names a logged model version is known by: lineage tags and artifact paths.

``training.py`` writes them when it logs a run; ``registry.py`` reads them back. Both import
them from here, so neither imports the other for a name (the registry no longer imports
training, which imports the registry's MLflow set-up: that was an import cycle). Holds
constants only; imports nothing.
"""

from __future__ import annotations

MODEL_ARTIFACT = "model"
"""The logged scikit-learn pipeline's artifact path within its run."""
REFERENCE_ARTIFACT = "reference_texts.parquet"
"""The training texts, logged with each run: the drift reference of that version."""
TRAINED_AT = "trained_at"
"""Lineage tag: when the engine's clock says the model was trained (ISO, naive UTC). In the
demo the clock is simulated, and MLflow's own creation time would be the wall clock."""
