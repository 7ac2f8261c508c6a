"""The operator's logic between the kopf handlers and the plain modules: resolve, run, record."""
