import sys

from xmem.cli.main import main

sys.exit(main())
