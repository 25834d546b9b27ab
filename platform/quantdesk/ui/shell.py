"""The one page shell every Panel app is served in: title, navigation, and links to the other front doors."""

from __future__ import annotations

import panel as pn

from quantdesk.compute import dashboard_link
from quantdesk.config.settings import settings

ACCENT = "#0b5394"


def navigation() -> pn.pane.Markdown:
    """Return links to the app index, JupyterLab and the Dask dashboard, as far as they are known.

    The launcher passes JupyterLab's and Dask's addresses to the Panel server; a dashboard
    opened inline in a notebook has no app index and says where Dask is when it knows.
    """
    config = settings()
    links = ["- [All apps](./)"]
    if config.jupyter_url:
        links.append(f"- [JupyterLab]({config.jupyter_url}/lab/tree/notebooks)")
    dask = dashboard_link(config)
    links.append(f"- [Dask dashboard]({dask})" if dask else "- Dask: no cluster started yet")
    return pn.pane.Markdown("### QuantDesk\n" + "\n".join(links), sizing_mode="stretch_width")


def page(title: str, main: object) -> pn.template.BootstrapTemplate:
    """Wrap a dashboard in the platform's template, ready for ``.servable()``.

    Parameters
    ----------
    title : str
        Shown in the header and the browser tab.
    main : object
        Anything Panel can render, typically a :class:`panel.viewable.Viewer`.
    """
    # Bootstrap rather than Fast: the Fast design pulls its font from Google, which an
    # offline or locked-down desk cannot reach (and which shows as a browser error).
    return pn.template.BootstrapTemplate(
        title=f"QuantDesk · {title}",
        sidebar=[navigation()],
        main=[main],
        header_background=ACCENT,
        sidebar_width=220,
    )
