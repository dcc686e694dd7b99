"""Re-exports of lazy_transcode.state under the spec's import paths."""
