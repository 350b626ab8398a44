"""The client of a running StarDock server, shared by the CLI and the magics.

discovery (finding the server and its token), api (the REST client), events
(the build log's Server-Sent Events and build progress), presentation (what
the fronts print) and kernel (a remote kernel over its websocket, for the
magics). It imports only the package's root modules, and nothing of the server
stack, so a command line that uses it starts fast.
"""
