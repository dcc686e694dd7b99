"""lazy-transcode: transcode a video library to a target visual quality, resumably."""

__version__ = "0.1.0"
