"""The running service: a polling run, the daemon with every scheduled job, and its health."""
