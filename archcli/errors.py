"""One error type for a user's mistakes: the CLI prints it without a traceback."""
from typing import Optional


class ArchcliError(Exception):
    """A problem with the user's input (config, corpus, model directory, flags).

    The message should name the file and line, or the config key, so the user can fix
    it without reading a traceback. Programming errors keep raising their own types.
    """

    def __init__(self, message: str, *, where: Optional[str] = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(ArchcliError):
    """A config that does not resolve: unknown name, missing or wrong-typed key."""


class CorpusError(ArchcliError):
    """A corpus file that cannot be read: malformed line, bad offsets, empty corpus."""


class ModelDirError(ArchcliError):
    """A model directory that is missing pieces or was written by something else."""
