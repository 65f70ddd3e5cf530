"""``python -m snnfpga.bench``: the same as ``snnfpga bench``."""

import sys

from .suite import main

sys.exit(main())
