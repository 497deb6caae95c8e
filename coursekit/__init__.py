"""coursekit: the support package of the course "Neural Networks from Scratch"."""

__version__ = "0.1.0"
