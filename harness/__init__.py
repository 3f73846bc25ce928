"""bench: run, measure and compare one-step generators distilled or fine-tuned from diffusion models."""

__version__ = "0.1.0"
