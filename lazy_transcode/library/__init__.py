"""Libraries that ltd looks after by itself: settings, scans, the inotify watch and the settling of files."""
