# ruff: noqa: E501  (the spec's lines, verbatim)
"""The code examples of the state-management spec, verbatim (copied from the spec, never read at run time)."""

EXAMPLES: dict[str, str] = {
    "core_operation": r"""@dataclass
class TranscodeOperation:
    operation_type: str          # 'vbr', 'qp', 'auto', 'batch'
    input_file: str
    encoder: Optional[str] = None
    encoder_type: Optional[str] = None
    target_vmaf: Optional[float] = None
    target_qp: Optional[int] = None
    # ... all relevant parameters
""",
    "core_manager": r"""class UniversalStateManager:
    def __init__(self, operation: TranscodeOperation)
    def save_state(self)
    def load_state(self) -> bool
    def update_step(self, step: str, progress: float = None)
    def mark_completed(self, success: bool, result: Dict = None)
    def check_pause_point(self)
""",
    "state_file": r"""{
  "operation": {
    "operation_type": "vbr",
    "input_file": "/path/to/video.mkv",
    "encoder": "hevc_nvenc",
    "target_vmaf": 92.0
  },
  "current_step": "vbr_optimization",
  "steps_completed": ["file_validation", "clip_extraction"],
  "progress_percent": 75.0,
  "clips_extracted": true,
  "optimization_results": {...},
  "best_result": {...},
  "completed": false,
  "start_time": 1693824000.0
}
""",
    "method1_decorator": r"""from lazy_transcode.core.modules.system.state_integration import with_state_management

@with_state_management('vbr', resume_check=True)
def process_vbr_mode(args, encoder, encoder_type, files, state_manager=None):
    # Original function logic
    # state_manager is automatically injected

    if state_manager:
        state_manager.update_step('processing_files')
        state_manager.check_pause_point()

    return results
""",
    "method2_context": r"""from lazy_transcode.core.modules.system.state_integration import StateAwareOperation

def my_transcoding_function(input_file, encoder):
    operation = TranscodeOperation(
        operation_type='custom',
        input_file=str(input_file),
        encoder=encoder
    )

    with StateAwareOperation(operation, resume=True) as state_manager:

        # Check if resuming
        if state_manager.state.current_step != 'initialization':
            logger.info(f"Resuming from: {state_manager.state.current_step}")

        # Step-by-step processing with state updates
        state_manager.update_step('file_analysis', progress=25.0)
        # ... do work ...

        state_manager.update_step('optimization', progress=75.0)
        state_manager.check_pause_point()  # Pause point
        # ... do work ...

        state_manager.update_step('complete', progress=100.0)
        return result

    # Automatic completion handling on exit
""",
    "method3_direct": r"""from lazy_transcode.core.modules.system.transcode_state_manager import UniversalStateManager

def my_function(input_file):
    operation = TranscodeOperation(
        operation_type='custom',
        input_file=str(input_file)
    )

    state_manager = UniversalStateManager(operation)

    try:
        # Check for resumable state
        if state_manager.load_state() and state_manager.state.completed:
            return state_manager.state.best_result

        # Process with state updates
        state_manager.update_step('working')
        result = do_work()

        state_manager.mark_completed(success=True, result=result)
        state_manager.cleanup_state()
        return result

    except Exception as e:
        state_manager.mark_completed(success=False, error_message=str(e))
        raise
""",
    "cli_add_args": r"""def add_state_management_args(parser):
    state_group = parser.add_argument_group('State Management')
    state_group.add_argument('--resume', action='store_true')
    state_group.add_argument('--list-resumable', action='store_true')
    state_group.add_argument('--cleanup-old-states', type=int, metavar='DAYS')
""",
    "cli_handle": r"""from lazy_transcode.core.modules.system.state_integration import list_resumable_cli

def handle_state_cli(args, input_path):
    if args.list_resumable:
        list_resumable_cli(input_path)
        return True

    if args.cleanup_old_states:
        cleanup_completed_states(input_path, args.cleanup_old_states)
        return True

    return False
""",
    "finding_resumable": r"""from lazy_transcode.core.modules.system.transcode_state_manager import find_resumable_operations

# Find all resumable operations
resumable = find_resumable_operations(Path("/videos"))

# Filter by operation type
vbr_resumable = find_resumable_operations(Path("/videos"), operation_type='vbr')

# Get operation details
for op in resumable:
    print(f"Operation: {op['operation_type']}")
    print(f"File: {op['input_file']}")
    print(f"Step: {op['current_step']}")
    print(f"Progress: {op['progress_percent']:.1f}%")
""",
    "manual_resume": r"""from lazy_transcode.core.modules.system.transcode_state_manager import resume_operation_from_state

# Resume from specific state file
state_file = Path(".lazy_transcode_state/video_vbr.state.json")
state_manager = resume_operation_from_state(state_file)

if state_manager:
    print(f"Resumed: {state_manager.state.current_step}")
    # Continue processing...
""",
    "migration_original": r"""# Original function still works
def process_vbr_mode(args, encoder, encoder_type, files):
    # Original implementation
    pass
""",
    "migration_enhanced": r"""# Enhanced version with state management
@with_state_management('vbr')
def process_vbr_mode_enhanced(args, encoder, encoder_type, files, state_manager=None):
    # Call original function with added state management
    return process_vbr_mode(args, encoder, encoder_type, files)
""",
}
