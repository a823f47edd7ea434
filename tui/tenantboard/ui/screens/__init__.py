"""The board's screens: the board itself, its help, and the tenant form."""
