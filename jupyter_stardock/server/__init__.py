"""The jupyter_server extension: the app (lifecycle), thin REST handlers, the route tables,
the hub service's own routes, remote mode's proxy and the guard of the outputs folders.
"""
