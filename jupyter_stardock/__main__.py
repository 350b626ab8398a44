"""``python -m jupyter_stardock`` is ``jupyter stardock``."""

from .cli import main

main()
