"""citygate: the wiring layer (command line and root settings) over the domain packages."""

__version__ = "0.1.0"
