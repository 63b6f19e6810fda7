"""Typed errors of the CNI invoker; callers catch `CniError` and map it once."""

from __future__ import annotations

# Well-known CNI error codes (0-99 are reserved by the specification).
CODE_INCOMPATIBLE_VERSION = 1
CODE_UNSUPPORTED_FIELD = 2
CODE_CONTAINER_UNKNOWN = 3
CODE_INVALID_ENV = 4
CODE_IO_FAILURE = 5
CODE_DECODE_FAILURE = 6
CODE_INVALID_NETWORK_CONFIG = 7
CODE_TRY_AGAIN_LATER = 11
CODE_PLUGIN_NOT_AVAILABLE = 50
CODE_LIMITED_CONNECTIVITY = 51


class CniError(Exception):
    """Base class of everything this package raises on purpose."""


class CniConfigError(CniError):
    """A network configuration file or object is not usable."""

    def __init__(self, message: str, source: str = "") -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class PluginNotFoundError(CniError):
    """A plugin binary named by a configuration is on none of the plugin paths."""

    def __init__(self, plugin: str, paths: list[str], network: str = "") -> None:
        self.plugin = plugin
        self.paths = list(paths)
        self.network = network
        where = f" (network `{network}`)" if network else ""
        super().__init__(f"find CNI plugin `{plugin}`{where}: not found in {':'.join(paths)}")


class CniPluginError(CniError):
    """A plugin exited non-zero; carries its error JSON (`code`, `msg`, `details`)."""

    def __init__(
        self,
        *,
        command: str,
        plugin: str,
        network: str,
        code: int,
        msg: str,
        details: str = "",
        stderr: str = "",
    ) -> None:
        self.command = command
        self.plugin = plugin
        self.network = network
        self.code = code
        self.msg = msg
        self.details = details
        self.stderr = stderr
        text = f"CNI {command} network `{network}` plugin `{plugin}`: {msg}"
        if details and details != msg:
            text += f": {details}"
        text += f" (code {code})"
        super().__init__(text)


class CniTimeoutError(CniPluginError):
    """A plugin ran past its deadline and was killed."""

    def __init__(self, *, command: str, plugin: str, network: str, timeout: float) -> None:
        super().__init__(
            command=command,
            plugin=plugin,
            network=network,
            code=CODE_TRY_AGAIN_LATER,
            msg=f"killed after {timeout:g}s timeout",
        )
        self.timeout = timeout
