"""The spec layer: YAML with source positions, models, templating, variants, diagnostics."""
