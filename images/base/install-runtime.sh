#!/bin/sh
# Installs the kernel runtime into the base image; runs as root in `docker build`.
set -eu

apt-get update
apt-get install -y --no-install-recommends \
    ca-certificates python3 python3-venv python3-pip tini
# Picks up /usr/local/share/ca-certificates/stardock/*.crt; installing the
# package regenerates the bundle, so this must come after it.
rm -f /usr/local/share/ca-certificates/stardock/.keep
update-ca-certificates

python3 -m venv --system-site-packages /opt/stardock/venv
/opt/stardock/venv/bin/pip install --no-cache-dir \
    --cert /etc/ssl/certs/ca-certificates.crt \
    "ipykernel>=6.25,<8"

# The non-root user kernels run as; a kernel may also run as another uid (the
# server's), so home and the venv's site-packages stay usable by any user.
groupadd --gid 1000 stardock
useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash stardock
chmod 1777 /tmp

apt-get clean
rm -rf /var/lib/apt/lists/* /root/.cache
