"""The base of errors that are the user's input, not a bug: the CLI prints them without a traceback."""


class GigError(Exception):
    pass
