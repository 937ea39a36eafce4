"""sincos: train a small LSTM to predict cos(x) from sin(x), keep runs, replay and compare."""

__version__ = "0.1.0"
