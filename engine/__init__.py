"""spamops engine: the core that owns DuckDB, MLflow, scikit-learn and APScheduler.

Importing this package must stay cheap: no heavy imports here, only the version.
"""

__version__ = "0.1.0"
