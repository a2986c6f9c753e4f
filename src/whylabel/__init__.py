"""whylabel: label the *why* behind customer-journey breakpoints."""

__version__ = "0.1.0"
