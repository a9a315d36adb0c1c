"""``python -m facenet2expnet`` (and ``torchrun -m facenet2expnet train ...``): the command line."""

import sys

from .cli.main import main

sys.exit(main())
