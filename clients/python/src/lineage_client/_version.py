"""The package version, in one place: pyproject.toml reads it from here, and
events name it in their default producer (`lineage-client-python/<version>`)."""

__version__ = "0.1.0"
