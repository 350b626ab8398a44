"""Shared hub deployments: the StarDock service, and single-user servers in remote mode.

In a JupyterHub, giving every user's server the engine socket would give every
user root on the host. So one process, ``jupyter stardock service`` (a
JupyterHub managed service), holds the engine; users' servers run the extension
in *remote* mode and call the service with their server's Hub API token.

    browser ──► user's server (/user/ana/stardock/api/...)      no engine socket
                  │  proxies with JUPYTERHUB_API_TOKEN (identity: ana)
                  ▼
               StarDock service (/services/stardock/stardock/api/...)
                  │  HubIdentityProvider: token ─► Hub ─► {name, groups, admin}
                  ▼
               Docker Engine ─► kernel container (runs as ana's uid)
                  ▲
    user's server's kernel manager ── ipc sockets in a folder only ana may enter
                                      (or TCP with per-kernel CurveZMQ keys)

Identity always comes from the token, never from a field of the request.
"""
