"""A chat turn: the window that fits it, summaries, titles, answers being written, the turn's steps."""
