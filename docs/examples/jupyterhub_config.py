"""JupyterHub with jupyter-stardock in hub service mode: a local trial for two users.

One process talks to the Docker Engine: the ``stardock`` service that JupyterHub
starts beside itself. Users' single-user servers reach it over HTTP with their own
Hub token and never hold the engine socket. docs/hub.md explains the design and
walks through the trial; in short, as root:

    useradd -m ana && useradd -m bob
    jupyterhub -f docs/examples/jupyterhub_config.py

then log in at http://127.0.0.1:8000 as ana or bob (any password).
"""

from pathlib import Path

c = get_config()  # noqa: F821 (traitlets provides get_config to config files)

HERE = Path(__file__).resolve().parent

# The service listens on loopback only: the proxy and the users' servers on this
# host reach it there, nobody else does. Its public path is /services/stardock/.
STARDOCK_URL = "http://127.0.0.1:10101"

# -- who may log in ---------------------------------------------------------------

# A trial on this machine only. DummyAuthenticator accepts any password, so never
# open it to a network; use your site's authenticator (LDAP, OAuth, PAM) there.
c.JupyterHub.bind_url = "http://127.0.0.1:8000"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {"ana", "bob"}

# Hub admins see every user's builds, images and kernels in the StarDock service.
# c.Authenticator.admin_users = {"ana"}

# The service reads the users' JupyterHub groups; a dataset's allowed_groups in
# jupyter_server_config.py names them (ana may use the "ngc4565" dataset, bob may not).
c.JupyterHub.load_groups = {"astro": {"users": ["ana"]}}

# -- the StarDock service: the only process with the engine socket -----------------

c.JupyterHub.services = [
    {
        "name": "stardock",
        "url": STARDOCK_URL,
        "command": ["jupyter", "stardock", "service"],
        # The panel and the kernels talk to the service on the user's behalf; there
        # is no page for the user to confirm.
        "oauth_no_confirm": True,
        # The operator settings (datasets, quotas, outputs folders) are read from
        # jupyter_server_config.py in this folder. Keep them in a folder of their own
        # (e.g. /etc/stardock) so that the users' servers never read them.
        "environment": {"JUPYTER_CONFIG_DIR": str(HERE)},
    },
]

c.JupyterHub.load_roles = [
    # Every user may call the service. JupyterHub's default `user` role holds only
    # "self"; keep it. (On JupyterHub 6, c.JupyterHub.extra_user_scopes does the same.)
    {
        "name": "user",
        "scopes": ["self", "access:services!service=stardock"],
    },
    # The service learns who a token belongs to from the Hub, then reads that user's
    # admin flag (read:users:name) and groups (read:users:groups) with its own token.
    {
        "name": "stardock-service",
        "scopes": ["read:users:name", "read:users:groups"],
        "services": ["stardock"],
    },
]

# -- the users' single-user servers ---------------------------------------------

# LocalProcessSpawner (the default, named here to be plain): each server runs as
# the user's own unix account, which must exist (useradd -m ana). The hub runs as
# root to start them; the servers never do.
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.default_url = "/lab"

# Remote mode: the extension finds the service here and sends the panel's, the
# magics' and the kernels' requests to it with the user's Hub token.
c.Spawner.environment = {"STARDOCK_SERVICE_URL": f"{STARDOCK_URL}/services/stardock/"}

# The server's own token ($JUPYTERHUB_API_TOKEN) must reach the service too. These are
# JupyterHub's defaults (the `server` role) plus the service; a token gets only the
# scopes its user holds, so this grants nothing beyond load_roles above.
c.Spawner.server_token_scopes = [
    "users:activity!user",
    "access:servers!server",
    "access:services!service=stardock",
]

# Deliberately absent: no docker group for the users and no engine socket in their
# environment. A user's server that could reach the engine would give that user
# root on this host.
