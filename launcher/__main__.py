import sys

from launcher.cli import main

try:
    code = main()
except KeyboardInterrupt:  # an interrupt outside main()'s own handler (start-up, shutdown)
    code = 130
sys.exit(code)
