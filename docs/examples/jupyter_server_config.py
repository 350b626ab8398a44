"""Operator settings of the StarDock service in a JupyterHub (hub service mode).

`jupyter stardock service` reads this file as a single-user server would read its
own: every setting is ``c.StarDockApp.<name>`` (`jupyter server --help-all | grep -A3
StarDockApp` lists them all). The service runs as root, or as an account in the
``docker`` group: it is the only process on the host that talks to the engine.

jupyterhub_config.py beside this file points the service here through
JUPYTER_CONFIG_DIR. On a real site keep it in a folder of its own (e.g.
/etc/stardock/jupyter_server_config.py), out of the users' servers' config path.
"""

from glob import glob

c = get_config()  # noqa: F821 (traitlets provides get_config to config files)

# -- the engine -------------------------------------------------------------------

c.StarDockApp.docker_host = "unix:///var/run/docker.sock"

# Trust the site's certificate authorities inside every image, for sites whose
# network intercepts TLS (without them `pip install` in a build fails). Only the
# files that exist: a listed file that is missing stops every build.
c.StarDockApp.extra_ca_certs = sorted(glob("/usr/local/share/ca-certificates/*.crt"))

# Records (build history, logs, kernel archives) of every user, kept by the service.
c.StarDockApp.state_dir = "/var/lib/stardock"

# -- datasets ---------------------------------------------------------------------

# Mounted read-only at /data in the kernels. Groups are the users' JupyterHub groups
# (c.JupyterHub.load_groups, or your authenticator's); without allowed_users and
# allowed_groups a dataset is open to every user. Hub admins may use them all.
c.StarDockApp.datasets = {
    "m51": {
        "path": "/srv/data/m51",
        "title": "Messier 51",
        "description": "HST ACS mosaic of the Whirlpool galaxy",
    },
    "ngc4565": {
        "path": "/srv/data/ngc4565",
        "title": "NGC 4565 (proprietary period)",
        "description": "Deep imaging of the Needle galaxy; the observing team only",
        "allowed_groups": ["astro"],
        "allowed_users": ["pi-smith"],
    },
}

# -- sharing one engine fairly -----------------------------------------------------

# Builds are heavy on CPU and disk: about one engine build at a time per two cores
# (this is for a four-core host), for all users together.
c.StarDockApp.max_concurrent_builds = 2

# Per user: builds running at once (more wait in the queue), kernels running at
# once, and disk taken by that user's images.
c.StarDockApp.quota_builds = 1
c.StarDockApp.quota_kernels = 3
c.StarDockApp.quota_image_bytes = 40 * 1024**3

# -- outputs ----------------------------------------------------------------------

# Where each user's /outputs lives on the engine host, and where it is archived
# when the kernel stops. The kernel runs as that user's uid, so the files are the
# user's own. {username} is the JupyterHub user name; {home} is that account's home
# on this host.
c.StarDockApp.user_outputs_dir = "/home/{username}/stardock-outputs"
