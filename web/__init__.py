"""The staff console: a server-rendered web application over the same store as the daemon (`zxjyck web`)."""
