import sys

from .sw_driver.cli import main

sys.exit(main())
