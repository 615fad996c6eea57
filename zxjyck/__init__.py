"""The project's shared vocabulary, imported by every package and importing none of them.

``errors`` (the one exception root), ``text`` (cleaning a stranger's text for a terminal, a log or a
page), plus the calendar and the labels people read. Nothing here touches a database, a file or the net.
"""
