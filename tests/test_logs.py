"""The hot path's guard for DEBUG lines follows what loguru would really log."""

from __future__ import annotations

from loguru import logger

from stigmer_actors.logs import debugging


def test_debug_lines_are_skipped_while_the_package_is_disabled() -> None:
    """Embedded, the package's logs are off (``logs.py``) while loguru's default sink takes
    DEBUG: the guard must say no, or every group commit formats a line nobody sees."""
    rules = logger._core.activation_list  # to put back as it was (another test may have enabled it)
    was_enabled = next((state for name, state in rules if "stigmer_actors.".startswith(name)), True)
    sink = logger.add(lambda _: None, level="DEBUG")
    try:
        logger.disable("stigmer_actors")
        assert not debugging()
        logger.enable("stigmer_actors")
        assert debugging()
        logger.disable("stigmer_actors.actors")  # a rule for a part only: the package is on
        assert debugging()
    finally:
        logger.enable("stigmer_actors")  # also drops the rule for the part
        if not was_enabled:
            logger.disable("stigmer_actors")
        logger.remove(sink)
