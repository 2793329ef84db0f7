"""Shared code for the colorization scripts: colour space, data, models, engine, metrics, plots."""
