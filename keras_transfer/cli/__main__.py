"""``python -m keras_transfer.cli``."""

import sys

from keras_transfer.cli import main

sys.exit(main())
