"""A farm: one film's pieces encoded on several machines through Dask distributed.

ltd connects to a Dask scheduler (`client`), accepts only workers started by `ltworker` whose
lazy-transcode version and ffmpeg build equal its own and that can read the library (`checks`), and
hands them pieces as tasks (`task`). Dask is imported only when a farm is configured.
"""
