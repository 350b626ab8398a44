"""What the handlers and the CLI call: build requests and environments (environments.py, the
one place a build request is taken), the build queue, the base image, the hub's kernels,
listings and the engine's status. Services never import tornado.
"""
