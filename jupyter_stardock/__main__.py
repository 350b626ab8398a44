"""``python -m jupyter_stardock`` is ``jupyter stardock``."""

from .cli.main import main

main()
