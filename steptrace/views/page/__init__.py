"""The step-through page's template, kept as the files it is made of: ``page.html`` (the
document), ``page.css`` (its styles) and ``page.js`` (its script), read with
:mod:`importlib.resources` and put together into one self-contained page, so nothing is
fetched when it is opened.

The template has two holes that :func:`steptrace.views.html.write_html` fills while it
streams the trace: ``/*EVENTS*/`` (each event's entry: its step's shape and operands, and
what it changes in the drawing) and ``/*DATA*/`` (the network, its names, the checkpoints
and the error per pass). Every number is rounded to 4 significant digits (``fmt``) and
carries its exact value in a tooltip: a ``<title>`` and a ``data-value`` attribute in the
drawing, a ``title`` attribute in the operands' tables.

``frame.html`` is what a notebook shows (:meth:`steptrace.Trace._repr_html_`): the page in a
sandboxed frame (scripts, no same origin), and a small script that grows that frame to the
page's height, which the page posts to its parent whenever it changes; ``@SRCDOC@``,
``@ID@``, ``@TITLE@`` and ``@HEIGHT@`` (the height where scripts in outputs do not run) to
fill.
"""

from importlib.resources import files


def _read(name: str) -> str:
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


#: The page's script, in the order it runs: the engine (``engine.js``: the book's step,
#: bit for bit with :mod:`steptrace.engine` in exact arithmetic), a run's entries and
#: literate lines (``live.js``), the page (``page.js``), and the edit panel (``edit.js``).
SCRIPTS = ("engine.js", "live.js", "page.js", "edit.js")

#: The page with its styles and script inlined; ``/*EVENTS*/`` and ``/*DATA*/`` to fill.
PAGE = (_read("page.html").replace("/*STYLE*/\n", _read("page.css"))
        .replace("/*SCRIPT*/\n", "".join(map(_read, SCRIPTS))))

#: A notebook's inline page: the page in a frame that grows to it; ``@SRCDOC@`` (the page,
#: attribute-escaped), ``@ID@``, ``@TITLE@`` and ``@HEIGHT@`` to fill.
FRAME = _read("frame.html")
