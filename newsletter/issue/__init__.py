"""The first stage: an editor's YAML file becomes a validated :class:`Issue`.

``model`` holds the plain dataclasses, ``schema`` the validators that report
every problem with its file, line and column, ``load`` the YAML reading that
keeps those positions. Nothing here imports a later stage (render, message …),
so a tool that only checks files never loads the rendering chain.
"""
