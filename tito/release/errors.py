"""What a release refuses or fails at; each message says where and what to do."""


class ReleaseError(Exception):
    """The edition cannot be built or failed a check; the message says where and what to do."""


class ReleaseUsageError(ReleaseError):
    """The release was asked for something it must refuse: a non-empty or unsafe OUT, a student course."""
