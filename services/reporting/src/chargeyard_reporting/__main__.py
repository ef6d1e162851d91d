from chargeyard_platform.runtime import serve

from .bootstrap import bootstrap
from .config import Settings


def main() -> None:
    serve(bootstrap(Settings()))  # type: ignore[call-arg]  # required values come from the environment


if __name__ == "__main__":
    main()
