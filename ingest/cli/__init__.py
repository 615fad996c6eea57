"""The ``zxjyck`` command: argument parsing and one thin function per command (``main``)."""
