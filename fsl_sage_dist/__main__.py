import sys

from fsl_sage_dist.cli import main

sys.exit(main())
