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

# kernel-runtime.txt is pinned for Debian 12 "bookworm": its Python 3.11 and its
# scientific stack. Another release would need pins of its own.
python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
    echo "The base image needs Debian 12 (bookworm) with Python 3.11;" \
        "this image has Python $(python3 -c 'import platform; print(platform.python_version())')." >&2
    exit 1
}
python3 -m venv --system-site-packages /opt/stardock/venv
/opt/stardock/venv/bin/pip install --no-cache-dir --no-deps \
    --cert /etc/ssl/certs/ca-certificates.crt \
    -r /opt/stardock/kernel-runtime.txt
/opt/stardock/venv/bin/pip check
# The base's own constraints (the runtime alone); each environment writes its
# file again after its apt layers.
/opt/stardock/venv/bin/python /opt/stardock/pip-constraints.py /opt/stardock/pip-constraints.txt

# The non-root user kernels run as; a kernel may also run as another uid (the
# server's), so home and the venv's site-packages stay usable by any user.
groupadd --gid 1000 stardock
useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash stardock
chmod 1777 /tmp

apt-get clean
rm -rf /var/lib/apt/lists/* /root/.cache
