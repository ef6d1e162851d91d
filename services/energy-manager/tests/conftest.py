import sys
from pathlib import Path

# The builders module sits beside this file; tests dirs are not packages (every service has one),
# so the directory goes on the path.
sys.path.insert(0, str(Path(__file__).parent))
