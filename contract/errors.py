"""Errors that stop a job with one clear line (file, key, path), never a traceback wall."""


class WinnowError(Exception):
    """Base class: the message is shown to the user as is."""


class ConfigError(WinnowError):
    """A pipeline YAML is unreadable or names a bad key/value. The message names file and key."""


class InputError(WinnowError):
    """An input path does not exist or matches nothing."""


class ConservationError(WinnowError):
    """A stage lost or invented documents: docs_in != kept + rejected."""


class StageContractError(WinnowError):
    """A stage produced a column or metric it did not declare (a bug in the stage, not in the data)."""


class WorkdirLockedError(WinnowError):
    """Another run holds the workdir (``<workdir>/.winnow.lock``): two runs in one workdir would
    delete each other's half-written stages. The message names the holder (host, pid, start time)."""
