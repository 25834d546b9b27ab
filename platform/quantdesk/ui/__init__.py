"""The front end: one page shell, reusable components, and one Viewer per dashboard.

Engines never import this package; dashboards, apps and notebooks do.
"""
