"""The one exception type for bad configuration, raised before any training starts."""


class ConfigError(ValueError):
    """A configuration value is impossible; the message names the option, the value and what is allowed."""
