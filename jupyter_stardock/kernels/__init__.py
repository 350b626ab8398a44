"""Kernels in containers: jupyter_client's provisioner (provisioner.py), the container kernel
(container.py, with launch.py, runtime.py, archive.py), the operator's container settings
(settings.py) and what a kernel start needs from the server it runs in (host.py).
"""
