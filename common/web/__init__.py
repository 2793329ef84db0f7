"""The web page behind `make serve` in one room: the app (`app.py`) and the page it serves (`page/`)."""
