"""Everything that touches ffmpeg: binary, probe, commands, processes, pieces, assembly, vmaf, search."""
