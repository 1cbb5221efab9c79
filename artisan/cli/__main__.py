"""``python -m artisan.cli``: the `artisan` command."""

from artisan.cli.main import main

main()
