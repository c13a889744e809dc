"""The web dashboard (``serve --http-address``): a list of executions, an agent execution's
conversation, a workflow execution's graph, the workflow definitions; live through SSE.

Needs the ``web`` extra (Flask, cheroot). Nothing else in the package imports it.
"""
