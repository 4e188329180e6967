"""JupyterLab for the browser tests: Galata's test settings plus what agent-kernel needs.

Never use this configuration elsewhere: Galata's settings turn off authentication.
"""

import os

from jupyterlab.galata import configure_jupyter_server

c = get_config()  # noqa: F821 (provided by Jupyter when it loads this file)
configure_jupyter_server(c)

c.ServerApp.port = int(os.environ.get("AGENT_KERNEL_UI_PORT", "18888"))
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.allow_root = True  # CI runs as root
# The side panel's endpoints, whether or not the package's own config file is installed.
c.ServerApp.jpserver_extensions.update({"agent_kernel": True})
