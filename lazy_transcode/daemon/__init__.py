"""ltd: the daemon that owns every job and every ffmpeg process."""
