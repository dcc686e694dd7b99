"""The spec's import path for the state manager; the code lives in `lazy_transcode.state`."""

from lazy_transcode.state import (
    SCHEMA_VERSION,
    FutureSchemaError,
    OperationInterrupted,
    PauseManager,
    StateError,
    StateLockedError,
    StateWriteError,
    TranscodeOperation,
    TranscodeState,
    UniversalStateManager,
    cleanup_completed_states,
    find_resumable_operations,
    install_foreground_signal_handlers,
    resume_operation_from_state,
)

__all__ = [
    "SCHEMA_VERSION",
    "FutureSchemaError",
    "OperationInterrupted",
    "PauseManager",
    "StateError",
    "StateLockedError",
    "StateWriteError",
    "TranscodeOperation",
    "TranscodeState",
    "UniversalStateManager",
    "cleanup_completed_states",
    "find_resumable_operations",
    "install_foreground_signal_handlers",
    "resume_operation_from_state",
]
