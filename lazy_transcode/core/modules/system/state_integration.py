"""The spec's import path for the integration helpers; the code lives in `lazy_transcode.state`."""

from lazy_transcode.state import (
    OperationInterrupted,
    StateAwareOperation,
    StateError,
    TranscodeOperation,
    UniversalStateManager,
    add_state_management_args,
    cleanup_completed_states,
    find_resumable_operations,
    handle_state_cli,
    list_resumable_cli,
    resume_operation_from_state,
    with_state_management,
)

__all__ = [
    "OperationInterrupted",
    "StateAwareOperation",
    "StateError",
    "TranscodeOperation",
    "UniversalStateManager",
    "add_state_management_args",
    "cleanup_completed_states",
    "find_resumable_operations",
    "handle_state_cli",
    "list_resumable_cli",
    "resume_operation_from_state",
    "with_state_management",
]
