"""The universal state management library of the spec (operation, manager, store, discovery, integration).

`UniversalStateManager(operation)` keeps one operation's state in
`.lazy_transcode_state/{input file name}_{operation_type}.state.json` beside the input, written atomically
and durably; `StateAwareOperation` and `with_state_management` wrap work in it; `find_resumable_operations`
and `cleanup_completed_states` look after the files of a whole library.
"""

from lazy_transcode.state.discovery import (
    cleanup_completed_states,
    find_resumable_operations,
    read_state_file,
    resume_operation_from_state,
)
from lazy_transcode.state.errors import (
    FutureSchemaError,
    OperationInterrupted,
    StateCorruptError,
    StateError,
    StateLockedError,
    StateReadError,
    StateWriteError,
)
from lazy_transcode.state.integration import (
    StateAwareOperation,
    add_state_management_args,
    handle_state_cli,
    list_resumable_cli,
    with_state_management,
)
from lazy_transcode.state.manager import UniversalStateManager
from lazy_transcode.state.operation import TranscodeOperation
from lazy_transcode.state.pause import (
    PauseManager,
    ask_on_terminal,
    default_pause_manager,
    install_foreground_signal_handlers,
)
from lazy_transcode.state.schema import SCHEMA_VERSION, TranscodeState
from lazy_transcode.state.store import STATE_DIR_NAME, default_state_dir, state_file_name

__all__ = [
    "SCHEMA_VERSION",
    "STATE_DIR_NAME",
    "FutureSchemaError",
    "OperationInterrupted",
    "PauseManager",
    "StateAwareOperation",
    "StateCorruptError",
    "StateError",
    "StateLockedError",
    "StateReadError",
    "StateWriteError",
    "TranscodeOperation",
    "TranscodeState",
    "UniversalStateManager",
    "add_state_management_args",
    "ask_on_terminal",
    "cleanup_completed_states",
    "default_pause_manager",
    "default_state_dir",
    "find_resumable_operations",
    "handle_state_cli",
    "install_foreground_signal_handlers",
    "list_resumable_cli",
    "read_state_file",
    "resume_operation_from_state",
    "state_file_name",
    "with_state_management",
]
