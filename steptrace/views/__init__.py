"""The views: what a person reads or looks at, made from a trace's events.

- :mod:`~steptrace.views.literate`: every step in the book's terms, numbers plugged in;
- :mod:`~steptrace.views.book`: what the book's program printed;
- :mod:`~steptrace.views.pressure`: the book's up and down pressure table, from the data;
- :mod:`~steptrace.views.moves`: which way each update moved each weight;
- :mod:`~steptrace.views.html`: the step-through page; :mod:`~steptrace.views.plot`: pictures;
- :mod:`~steptrace.views.text`: numbers and matrices as the views print them.
"""

#: The text views of a trace (``Trace.show``, ``steptrace show --view``).
VIEWS = ("literate", "book", "pressure", "moves")
